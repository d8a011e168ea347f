const { TestEnvironment } = require('jest-environment-node');

/**
 * jest's node environment with the host's typed-array constructors: native addons
 * (onnxruntime-node) create tensors from the host realm, and their own instanceof checks fail
 * against the sandbox's copies otherwise.
 */
class HostTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of [
      'ArrayBuffer',
      'Float32Array',
      'Float64Array',
      'Int8Array',
      'Int16Array',
      'Int32Array',
      'Uint8Array',
      'Uint8ClampedArray',
      'Uint16Array',
      'Uint32Array',
      'BigInt64Array',
      'BigUint64Array',
    ])
      this.global[name] = globalThis[name];
  }
}

module.exports = HostTypedArraysEnvironment;
