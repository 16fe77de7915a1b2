import type { ProviderName } from '../spec/types.js';
import type { Provider } from './provider.js';
import { NetnsProvider } from './netns/index.js';

const factories: Record<ProviderName, () => Provider> = {
  netns: () => new NetnsProvider(),
  hyperv: () => {
    throw new Error('the hyperv provider is registered in providers/index.ts once it exists');
  },
};

export function providerFor(name: ProviderName): Provider {
  return factories[name]();
}

export function registerProvider(name: ProviderName, make: () => Provider): void {
  factories[name] = make;
}
