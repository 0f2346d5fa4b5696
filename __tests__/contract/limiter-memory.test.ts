// Runs the limiter contract against MemoryLimiter.

import { MemoryLimiter } from '../../lib/limiter/memory-limiter';
import { describeLimiterContract } from './limiter-contract';

describeLimiterContract('MemoryLimiter', async (options) => {
  const limiter = new MemoryLimiter(options);
  return { limiter, cleanup: () => limiter.close() };
});
