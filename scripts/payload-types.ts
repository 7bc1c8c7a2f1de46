import { compile } from 'json-schema-to-typescript';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemasDir = join(root, 'schemas');
export const payloadTypesPath = join(root, 'src', 'model', 'payload-types.ts');

/**
 * One synthetic schema that references every type schema, so each shared
 * definition (ScoreDetails…) is emitted once.
 */
export async function renderPayloadTypes(): Promise<string> {
  const ts = await compile(
    {
      title: 'EmberQAWebhook',
      description: 'Any webhook that EmberQA sends (one schema file per type in schemas/).',
      oneOf: [
        { $ref: 'red-flag.json' },
        { $ref: 'low-score.json' },
        { $ref: 'completion.json' },
        { $ref: 'workflow-completion.json' },
      ],
    },
    'EmberQAWebhook',
    {
      cwd: schemasDir,
      bannerComment: '// Generated from schemas/*.json by `npm run gen:types`. Do not edit by hand.',
      additionalProperties: true,
      declareExternallyReferenced: true,
    },
  );
  return ts;
}
