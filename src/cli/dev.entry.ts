// `npm run digestmail -- <args>`: the CLI straight from the TypeScript sources through tsx, for
// development without a build. Users run bin/digestmail.js, which runs the build in dist/.
import { main } from './main.ts';

process.exitCode = await main(process.argv);
