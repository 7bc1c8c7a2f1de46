/** A cell as every target sees it: numbers stay numbers, absent is null. */
export type Cell = string | number | boolean | null;
