// A card per face: age with its likely range, gender with probability, seven emotion bars.
import { EMOTIONS, ageText, el, percent } from "./util.js";

function row(dl, term, value) {
  dl.append(el("dt", null, term), el("dd", null, value));
}

/** One face's card; its heading "Face n" matches box n on the picture. */
export function faceCard(face, number, headingLevel = 3) {
  const card = el("article", "card face-card");
  const heading = el(`h${headingLevel}`, null, null);
  const badge = el("span", "face-number", String(number));
  badge.setAttribute("aria-hidden", "true");
  heading.append(badge, document.createTextNode(`Face ${number}`));
  card.append(heading);
  card.dataset.face = String(number);
  const dl = el("dl");
  row(dl, "Age", ageText(face));
  row(dl, "Gender", `${face.gender} (${percent(face.gender_probability)})`);
  row(dl, "Emotion", `${face.emotion} (${percent(face.emotion_scores[face.emotion])})`);
  card.append(dl);
  const bars = el("ul", "bars");
  bars.setAttribute("aria-label", "emotion scores");
  for (const name of EMOTIONS) {
    const score = face.emotion_scores[name] || 0;
    const item = el("li", name === face.emotion ? "top" : null);
    const bar = el("span", "bar");
    bar.setAttribute("aria-hidden", "true");
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
export function renderCards(container, faces, headingLevel = 3) {
  container.replaceChildren();
  if (!faces.length) {
    container.append(el("p", "muted no-face", "No face found. Try a brighter, frontal face, larger in the picture (crop closer to it)."));
    return;
  }
  faces.forEach((face, i) => container.append(faceCard(face, i + 1, headingLevel)));
}
