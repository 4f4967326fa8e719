import fc from 'fast-check';
import { SEED } from './random.js';

// Tests keep the functions' logs quiet unless asked: AMUN_LOG_LEVEL=INFO npm test.
process.env.AMUN_LOG_LEVEL ??= 'ERROR';

// Property tests run the same cases on every machine (CI never flakes on a new draw); another
// AMUN_TEST_SEED explores other cases, and a failure prints the seed that replays it.
fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: SEED });
