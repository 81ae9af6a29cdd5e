// face-api.js in Node on the CPU (tfjs wasm backend), from the pinned install: one net loaded.
import { createRequire } from 'node:module';
import path from 'node:path';

// MODULES: the install's node_modules folder; NET: a name in faceapi.nets (faceExpressionNet ...).
export async function loadNet(modules, net) {
  const root = path.resolve(modules);
  const require = createRequire(path.join(root, 'noop.js'));
  const tf = require('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  wasm.setWasmPaths(path.join(root, '@tensorflow/tfjs-backend-wasm/dist/'));
  await tf.setBackend('wasm');
  await tf.ready();
  await faceapi.nets[net].loadFromDisk(path.join(root, '@vladmandic/face-api/model'));
  return { tf, model: faceapi.nets[net] };
}
