export * from './errors';
export * from './access';
export * from './clock';
export * from './logger';
export * from './definitions';
export * from './peer-fetch';
export * from './ids';
