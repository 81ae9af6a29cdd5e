// face-api.js's FaceExpressionNet over a file of grayscale face crops, on the CPU (tfjs wasm).
//
//   node faceapi_expressions.mjs MODULES CROPS.u8 COUNT SIDE OUT.f32
//
// MODULES: the node_modules folder of the pinned install (.cache/npm-teacher/node_modules).
// CROPS.u8: COUNT x SIDE x SIDE uint8 grayscale crops, row-major. OUT.f32: COUNT x 7 float32
// softmax probabilities in face-api's order (neutral, happy, sad, angry, fearful, disgusted,
// surprised); faceinsight/training/teachers/faceapi.py maps them to ours. The net takes
// 112 px RGB (FaceFeatureExtractor: bilinear resize, mean-RGB subtraction, /255): each grey
// crop is given as three equal channels and resized here as face-api resizes a tensor.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadNet } from './faceapi_node.mjs';

const [modules, cropsFile, countText, sideText, outFile] = process.argv.slice(2);

const INPUT_SIDE = 112;
const BATCH = 64;

async function main() {
  const { tf, model } = await loadNet(modules, 'faceExpressionNet');
  const count = Number(countText);
  const side = Number(sideText);
  const crops = new Uint8Array(readFileSync(cropsFile));
  if (crops.length !== count * side * side) throw new Error(`expected ${count * side * side} bytes`);
  const out = new Float32Array(count * 7);
  const started = Date.now();
  for (let start = 0; start < count; start += BATCH) {
    const size = Math.min(BATCH, count - start);
    const grey = crops.subarray(start * side * side, (start + size) * side * side);
    const inputs = tf.tidy(() => {
      const rgb = tf.tensor4d(grey, [size, side, side, 1], 'int32').tile([1, 1, 1, 3]).toFloat();
      const resized = tf.image.resizeBilinear(rgb, [INPUT_SIDE, INPUT_SIDE], false, false);
      return tf.unstack(resized);
    });
    const probabilities = await model.forward(inputs);
    out.set(await probabilities.data(), start * 7);
    tf.dispose([probabilities, ...inputs]);
  }
  writeFileSync(outFile, Buffer.from(out.buffer));
  const seconds = (Date.now() - started) / 1000;
  process.stderr.write(`${count} faces in ${seconds.toFixed(1)} s (${(1000 * seconds / Math.max(count, 1)).toFixed(2)} ms/face)\n`);
}

main().catch((error) => { process.stderr.write(`${error.stack}\n`); process.exit(1); });
