export { FileKeyStore } from './key-store';
export type { ConfiguredKeys, KeyStore, PrivateJwk, SecretName } from './key-store';
