// Derives src/model/payload-types.ts from schemas/*.json so the TypeScript
// types are never written by hand (test/scripts/gen-types.test.ts checks it is current).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderPayloadTypes, payloadTypesPath } from './payload-types.js';

const out = await renderPayloadTypes();
writeFileSync(payloadTypesPath, out);
console.log(`wrote ${fileURLToPath(new URL(`file://${payloadTypesPath}`))}`);
