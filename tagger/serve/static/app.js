// The tagger page: asks the API, draws the answer. Text from the model or the user
// only ever goes into the page through textContent, never as HTML.
"use strict";

const COLORS = {  // displaCy's palette for the usual entity types
  PER: "#aa9cfc", PERSON: "#aa9cfc", ORG: "#7aecec", LOC: "#ff9561", GPE: "#feca74", MISC: "#e4e7d2",
  NORP: "#c887fb", FAC: "#9cc9cc", PRODUCT: "#bfeeb7", EVENT: "#ffeb80", DATE: "#bfe1d9", MONEY: "#e4e7d2",
};
let models = [];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function colorOf(label) {
  if (COLORS[label]) return COLORS[label];
  let hash = 0;
  for (const ch of label) hash = (hash * 31 + ch.codePointAt(0)) % 360;
  return `hsl(${hash}, 70%, 82%)`;
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function loadModels() {
  const response = await fetch("/v1/models");
  const body = await response.json();
  models = body.models;
  const select = document.getElementById("model");
  for (const model of models) select.append(new Option(model.name, model.name));
  select.addEventListener("change", describeModel);
  describeModel();
}

function currentModel() {
  return models.find((m) => m.name === document.getElementById("model").value);
}

function describeModel() {
  const model = currentModel();
  if (!model) return;
  const tasks = model.tasks.map((t) => `${t.name} (${t.level === "sentence" ? "classifier" : t.span ? "spans" : "tags"})`);
  const score = model.training && model.training.dev_score != null ? ` · dev score ${model.training.dev_score.toFixed(3)}` : "";
  document.getElementById("model-info").textContent = tasks.join(", ") + score;
  document.getElementById("explain-box").hidden = !model.tasks.some((t) => t.attention);
}

async function analyze(event) {
  event.preventDefault();
  const model = currentModel();
  const texts = document.getElementById("text").value.split("\n").filter((line) => line.trim());
  if (!model || !texts.length) return;
  const explain = !document.getElementById("explain-box").hidden && document.getElementById("explain").checked;
  const button = document.getElementById("analyze");
  button.disabled = true;
  showError("");
  const started = performance.now();
  try {
    const response = await fetch(`/v1/models/${encodeURIComponent(model.name)}/predict`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ texts, explain }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(`${response.status}: ${body.error}`);
    document.getElementById("timing").textContent = `${Math.round(performance.now() - started)} ms`;
    render(body.sentences, model);
  } catch (err) {
    showError(String(err.message || err));
  } finally {
    button.disabled = false;
  }
}

function render(sentences, model) {
  const results = document.getElementById("results");
  results.replaceChildren(...sentences.map((s) => renderSentence(s, model)));
}

function renderSentence(sentence, model) {
  const box = el("div", "sentence");
  const spanTask = Object.keys(sentence.spans).includes("ner") ? "ner" : Object.keys(sentence.spans)[0];
  if (spanTask !== undefined) box.append(renderEntities(sentence, spanTask));
  if (Object.keys(sentence.tags).length) box.append(renderTokens(sentence));
  for (const task of Object.keys(sentence.labels)) box.append(renderClasses(sentence, task));
  for (const [task, weights] of Object.entries(sentence.attention || {})) box.append(renderHeat(sentence, task, weights));
  return box;
}

// Offsets count code points, as Python does; Array.from splits a string the same way.
function renderEntities(sentence, task) {
  const chars = Array.from(sentence.text);
  const line = el("div", "ents");
  line.dataset.task = task;
  let cursor = 0;
  for (const span of sentence.spans[task]) {
    if (span.start == null || span.start < cursor) continue;
    line.append(chars.slice(cursor, span.start).join(""));
    const mark = el("mark", "entity", chars.slice(span.start, span.end).join(""));
    mark.dataset.label = span.label;
    mark.style.background = colorOf(span.label);
    mark.append(el("span", "entity-label", span.label));
    line.append(mark);
    cursor = span.end;
  }
  line.append(chars.slice(cursor).join(""));
  return line;
}

function renderTokens(sentence) {
  const row = el("div", "tokens");
  const legend = el("div", "token legend");  // which row of tags is which task
  legend.append(el("span", "word", "\u00a0"));
  for (const task of Object.keys(sentence.tags)) legend.append(el("span", "tag", task));
  row.append(legend);
  sentence.tokens.forEach((word, i) => {
    const token = el("div", "token");
    token.append(el("span", "word", word));
    for (const [task, tags] of Object.entries(sentence.tags)) {
      const tag = el("span", "tag", tags[i]);
      tag.title = task;
      tag.dataset.task = task;
      token.append(tag);
    }
    row.append(token);
  });
  return row;
}

function renderClasses(sentence, task) {
  const block = el("div", "classes");
  block.dataset.task = task;
  block.append(el("div", "task-name", task));
  const chosen = new Set(sentence.labels[task]);
  const entries = Object.entries(sentence.probabilities[task]).sort((a, b) => b[1] - a[1]);
  for (const [label, p] of entries) {
    const bar = el("div", chosen.has(label) ? "bar chosen" : "bar");
    const track = el("div", "track");
    const fill = el("div", "fill");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    track.append(fill);
    bar.append(el("span", "label", label), track, el("span", "p", p.toFixed(3)));
    block.append(bar);
  }
  return block;
}

function renderHeat(sentence, task, weights) {
  const block = el("div", "heat");
  block.dataset.task = task;
  block.append(el("div", "task-name", `${task}: attention`));
  const peak = Math.max(...weights, 1e-9);
  sentence.tokens.forEach((word, i) => {
    const span = el("span", "", word);
    span.style.background = `rgba(220, 60, 30, ${(weights[i] / peak).toFixed(3)})`;
    span.title = weights[i].toFixed(4);
    block.append(span, " ");
  });
  return block;
}

document.getElementById("form").addEventListener("submit", analyze);
loadModels().catch((err) => showError(`cannot list the models: ${err}`));
