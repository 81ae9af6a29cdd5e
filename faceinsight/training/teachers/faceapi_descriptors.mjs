// face-api.js's FaceRecognitionNet over a file of RGB images, on the CPU (tfjs wasm): the
// reference that faceinsight/training/face_embedding.py checks its .tflite against.
//
//   node faceapi_descriptors.mjs MODULES INPUTS.u8 COUNT OUT.f32
//
// MODULES: the node_modules folder of the pinned install (.cache/npm-teacher/node_modules).
// INPUTS.u8: COUNT x 150 x 150 x 3 uint8 RGB, row-major. OUT.f32: COUNT x 128 float32.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadNet } from './faceapi_node.mjs';

const [modules, inputsFile, countText, outFile] = process.argv.slice(2);

const SIDE = 150;
const WIDTH = 128;

async function main() {
  const { tf, model } = await loadNet(modules, 'faceRecognitionNet');
  const count = Number(countText);
  const pixels = new Uint8Array(readFileSync(inputsFile));
  if (pixels.length !== count * SIDE * SIDE * 3) throw new Error(`expected ${count * SIDE * SIDE * 3} bytes`);
  const out = new Float32Array(count * WIDTH);
  for (let index = 0; index < count; index += 1) {
    const image = pixels.subarray(index * SIDE * SIDE * 3, (index + 1) * SIDE * SIDE * 3);
    const input = tf.tensor3d(image, [SIDE, SIDE, 3], 'int32');
    out.set(await model.computeFaceDescriptor(input), index * WIDTH);
    input.dispose();
  }
  writeFileSync(outFile, Buffer.from(out.buffer));
}

main().catch((error) => { process.stderr.write(`${error.stack}\n`); process.exit(1); });
