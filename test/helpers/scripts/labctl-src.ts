// labctl straight from src/ (run with `node --import tsx`): what the test helpers start when
// LABCTL_TEST_FROM_SRC=1, so tests can run without a build.
import { main } from '../../../src/cli/main.js';

await main(['node', 'labctl', ...process.argv.slice(2)]);
