import type { ProviderName } from '../spec/types.js';
import type { Provider } from './provider.js';
import { HypervProvider } from './hyperv/index.js';
import { NetnsProvider } from './netns/index.js';

const factories: Record<ProviderName, () => Provider> = {
  netns: () => new NetnsProvider(),
  hyperv: () => new HypervProvider(),
};

export function providerFor(name: ProviderName): Provider {
  return factories[name]();
}

export function registerProvider(name: ProviderName, make: () => Provider): void {
  factories[name] = make;
}
