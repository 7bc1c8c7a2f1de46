import { SettingError } from '../errors.js';
import { ensureWritableDir, UnusableDirError } from '../lib/ensure-dir.js';

/** A folder a setting names must be usable: created step by step and proven writable, else a SettingError naming it (exit 2). */
export function ensureSettingDir(setting: string, dir: string): void {
  try {
    ensureWritableDir(dir);
  } catch (err) {
    if (err instanceof UnusableDirError) throw new SettingError(setting, err.message);
    throw err;
  }
}
