// Runs the store contract against MemoryStore.

import { MemoryStore } from '../../lib/store/memory-store';
import { describeStoreContract } from './store-contract';

describeStoreContract('MemoryStore', async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
});
