// A card per face: age with range and bracket, gender with probability, seven emotion bars.
import { EMOTIONS, el, percent } from "./util.js";

function row(dl, term, value) {
  dl.append(el("dt", null, term), el("dd", null, value));
}

/** One face's card. */
export function faceCard(face, number) {
  const card = el("article", "card face-card");
  card.append(el("h3", null, `Face ${number}`));
  const dl = el("dl");
  const [low, high] = face.age_range;
  row(dl, "Age", `${Math.round(face.age)} (likely ${low}-${high}), bracket ${face.age_group}`);
  row(dl, "Gender", `${face.gender} (${percent(face.gender_probability)})`);
  row(dl, "Emotion", `${face.emotion} (${percent(face.emotion_scores[face.emotion])})`);
  card.append(dl);
  const bars = el("ul", "bars");
  bars.setAttribute("aria-label", "emotion scores");
  for (const name of EMOTIONS) {
    const score = face.emotion_scores[name] || 0;
    const item = el("li", name === face.emotion ? "top" : null);
    const bar = el("span", "bar");
    const fill = el("span");
    fill.style.width = `${(score * 100).toFixed(1)}%`; // CSSOM, allowed by the CSP
    bar.append(fill);
    item.append(el("span", null, name), bar, el("span", null, percent(score)));
    bars.append(item);
  }
  card.append(bars);
  return card;
}

/** Replace a container's content with one card per face (or a "no face" note). */
export function renderCards(container, faces) {
  container.replaceChildren();
  if (!faces.length) {
    container.append(el("p", "muted no-face", "No face found. Try a brighter, frontal, larger face."));
    return;
  }
  faces.forEach((face, i) => container.append(faceCard(face, i + 1)));
}
