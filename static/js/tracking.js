// The live overlay's faces followed from one answer to the next, each one's readings steadied
// over its recent frames. A single frame's age can be several years off and its emotion can
// flip on a still face; the page shows what a face's last ~1.5 s agree on (the API's answers,
// each frame's raw readings, are not changed).
import { EMOTIONS } from "./util.js";

export const WINDOW_MS = 1500; // a face's readings are steadied over this much of its recent past
export const DROP_AFTER_MS = 1000; // a face not seen for this long has left
const MATCH_IOU = 0.2; // a new box continues a followed face whose box it overlaps this much...
const MATCH_CENTRE = 0.5; // ...or whose centre is this many of that box's widths away at most
const AGE_DEADBAND = 2; // years: the shown age moves only when the steadied reading leaves this band
const EMOTION_MARGIN = 0.15; // another emotion is shown once its mean score leads by this much
const GENDER_MARGIN = 0.1; // the other gender is shown once its mean probability passes 0.5 + this

function iou(a, b) {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a[2] * a[3] + b[2] * b[3] - w * h);
}

function centreDistance(a, b) {
  return Math.hypot(a[0] + a[2] / 2 - (b[0] + b[2] / 2), a[1] + a[3] / 2 - (b[1] + b[3] / 2));
}

/**
 * Faces in reading order: rows from top to bottom (a face whose centre is less than half the
 * row's first face's height below it is in that row), each row left to right.
 * @param items the faces (or anything with a box)
 * @param boxOf an item's [x, y, w, h]
 */
export function readingOrder(items, boxOf = (item) => item.box) {
  const centreY = (item) => boxOf(item)[1] + boxOf(item)[3] / 2;
  const rows = [];
  for (const item of [...items].sort((a, b) => centreY(a) - centreY(b))) {
    const row = rows[rows.length - 1];
    if (row && centreY(item) - centreY(row[0]) < boxOf(row[0])[3] / 2) row.push(item);
    else rows.push([item]);
  }
  return rows.flatMap((row) => row.sort((a, b) => boxOf(a)[0] - boxOf(b)[0]));
}

/** The probability that a face is male, from the API's gender and its probability. */
function maleProbability(face) {
  return face.gender === "male" ? face.gender_probability : 1 - face.gender_probability;
}

function mean(values) {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/**
 * One followed face: its latest box and readings, and the steadied readings it shows.
 */
class Track {
  constructor(id, face, now) {
    this.id = id;
    this.samples = []; // {t, face}: this face's answers over the last WINDOW_MS
    this.shown = null; // {age, gender, emotion}: what is shown, kept until the readings disagree
    this.add(face, now);
  }

  add(face, now) {
    this.face = face;
    this.lastSeen = now;
    this.samples.push({ t: now, face });
    while (now - this.samples[0].t > WINDOW_MS) this.samples.shift();
    this.steady();
  }

  /** Update what is shown from the samples in the window, with hysteresis on each reading. */
  steady() {
    const faces = this.samples.map((sample) => sample.face);
    const ages = faces.map((face) => face.age).sort((a, b) => a - b);
    const median = (ages[(ages.length - 1) >> 1] + ages[ages.length >> 1]) / 2;
    const scores = Object.fromEntries(EMOTIONS.map((name) => [name, mean(faces.map((f) => f.emotion_scores[name] || 0))]));
    const male = mean(faces.map(maleProbability));
    const previous = this.shown;
    // The shown age follows the window's median only as far as it leaves a band around it.
    const age = previous ? Math.min(Math.max(previous.age, median - AGE_DEADBAND), median + AGE_DEADBAND) : median;
    const best = EMOTIONS.reduce((a, b) => (scores[b] > scores[a] ? b : a));
    const emotion = previous && scores[best] - scores[previous.emotion] < EMOTION_MARGIN ? previous.emotion : best;
    let gender = male >= 0.5 ? "male" : "female";
    if (previous && Math.abs(male - 0.5) < GENDER_MARGIN) gender = previous.gender;
    this.shown = { age, gender, emotion, scores, male };
  }

  /** The face as the overlay shows it: the latest box, the steadied readings (age range and
   * group from the window's reading nearest the shown age), the latest answer as ``raw``. */
  view() {
    const { age, gender, emotion, scores, male } = this.shown;
    const nearest = this.samples.reduce((a, b) => (Math.abs(b.face.age - age) < Math.abs(a.face.age - age) ? b : a)).face;
    return {
      ...this.face, id: this.id, raw: this.face, age, age_range: nearest.age_range, age_group: nearest.age_group,
      gender, gender_probability: gender === "male" ? male : 1 - male, emotion, emotion_scores: scores,
    };
  }
}

/** Follows the faces of successive live answers. */
export class FaceTracker {
  constructor() {
    this.tracks = [];
    this.nextId = 1;
  }

  /**
   * Take one answer's faces: each continues the followed face it matches best (overlap, then
   * centre distance; greedy, best pairs first), the others start new ones, and a followed face
   * not seen for DROP_AFTER_MS is dropped.
   * @param faces the answer's faces, boxes in the overlay's pixels
   * @param now the answer's time in ms (performance.now())
   * @returns the followed faces (see Track.view) in reading order
   */
  update(faces, now) {
    const pairs = [];
    faces.forEach((face, i) => this.tracks.forEach((track, j) => {
      const overlap = iou(track.face.box, face.box);
      const distance = centreDistance(track.face.box, face.box);
      if (overlap >= MATCH_IOU || distance <= MATCH_CENTRE * track.face.box[2]) pairs.push([overlap, distance, i, j]);
    }));
    pairs.sort((p, q) => q[0] - p[0] || p[1] - q[1]);
    const takenFaces = new Set();
    const takenTracks = new Set();
    for (const [, , i, j] of pairs) {
      if (takenFaces.has(i) || takenTracks.has(j)) continue;
      takenFaces.add(i);
      takenTracks.add(j);
      this.tracks[j].add(faces[i], now);
    }
    faces.forEach((face, i) => {
      if (!takenFaces.has(i)) this.tracks.push(new Track(this.nextId++, face, now));
    });
    this.tracks = this.tracks.filter((track) => now - track.lastSeen <= DROP_AFTER_MS);
    return this.shown();
  }

  /** The followed faces (see Track.view), in reading order. */
  shown() {
    return readingOrder(this.tracks.map((track) => track.view()));
  }

  clear() {
    this.tracks = [];
  }
}
