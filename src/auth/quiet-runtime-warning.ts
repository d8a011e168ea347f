/**
 * oidc-provider 9 prints "Unsupported runtime" through console.warn when it is loaded on Node 20
 * (it asks for 22 LTS; it works on 20.19+, which this project pins). Imported right before it
 * (see ./oidc.ts), this drops exactly that one line while the module loads; every other message,
 * and that one on any later occasion, goes through.
 */
const original = console.warn;
const UNSUPPORTED_RUNTIME = 'oidc-provider WARNING: Unsupported runtime.';

console.warn = (...args: unknown[]): void => {
  if (typeof args[0] === 'string' && args[0].includes(UNSUPPORTED_RUNTIME)) return;
  original.apply(console, args);
};

/** Puts console.warn back; called once oidc-provider has been loaded. */
export function restoreConsoleWarn(): void {
  console.warn = original;
}
