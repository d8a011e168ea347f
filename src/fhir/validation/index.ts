export { Validator } from './validator';
export { ProfileRegistry } from './profiles';
