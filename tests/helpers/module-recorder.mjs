// `node --import ./tests/helpers/module-recorder.mjs …` with MODULE_RECORD=<file>: when the process
// exits, <file> lists every module it loaded, one path or URL a line — the ES modules as the
// loader's resolve hook saw them (the hook runs on its own thread and appends as it goes) and the
// CommonJS ones from require's cache. The startup test reads it to prove what a command never loads.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.MODULE_RECORD;
if (file) {
  register(new URL('./module-recorder.hooks.mjs', import.meta.url), { data: { file } });
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    const cjs = Object.keys(require.cache);
    if (cjs.length > 0) appendFileSync(file, `${cjs.join('\n')}\n`);
  });
}
