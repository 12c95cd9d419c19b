// What both pages share (viewer.js: a .glb with its audio; live.js: the microphone stream): problems
// reported to the page's server, the lit three.js scene with orbit controls, and the ARKit bar chart.
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

// A message for the terminal: POSTed to /log, which kpanim prints.
export function report(level, text) {
  fetch("./log", { method: "POST", headers: { "Content-Type": "application/json" },
                   body: JSON.stringify({ level, text: String(text) }) }).catch(() => {});
}

// Console errors/warnings and uncaught errors go to the terminal too.
export function reportProblems() {
  for (const level of ["error", "warn"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => { original(...args); report(level, args.join(" ")); };
  }
  window.addEventListener("error", (e) => report("error", `${e.message} (${e.filename}:${e.lineno})`));
  window.addEventListener("unhandledrejection", (e) => report("error", `unhandled: ${e.reason}`));
}

// A renderer on `canvas`, a scene lit from above and in front (the face, +Z towards the viewer), a
// perspective camera with orbit controls, and resize() that fits them to the canvas.
export function makeScene(canvas, far = 100) {
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
  renderer.setPixelRatio(window.devicePixelRatio);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0xd9dde3);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x8d7f77, 2.0));
  const key = new THREE.DirectionalLight(0xffffff, 2.0);
  key.position.set(0.5, 1.0, 1.0);
  scene.add(key);
  const camera = new THREE.PerspectiveCamera(30, 1, 0.01, far);
  const controls = new OrbitControls(camera, canvas);
  function resize() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    renderer.setSize(w, h, false);
    camera.aspect = w / Math.max(h, 1);
    camera.updateProjectionMatrix();
  }
  window.addEventListener("resize", resize);
  return { renderer, scene, camera, controls, resize };
}

// One bar per ARKit shape (values in [0, 1]; mouth red, eyes blue, the rest green): what an
// ARKit-rigged character receives. `names` and `values` are parallel arrays.
export function drawArkitBars(canvas, names, values) {
  const rowHeight = 8, labelWidth = 118, w = canvas.width;
  if (canvas.height !== names.length * rowHeight + 4) canvas.height = names.length * rowHeight + 4;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, canvas.height);
  ctx.font = "7px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  names.forEach((name, i) => {
    const y = 2 + i * rowHeight, v = Math.min(1, Math.max(0, values[i]));
    ctx.fillStyle = "#555";
    ctx.fillText(name, 0, y + rowHeight / 2);
    ctx.fillStyle = "#e4e6ea";
    ctx.fillRect(labelWidth, y + 1, w - labelWidth, rowHeight - 2);
    ctx.fillStyle = name.startsWith("jaw") || name.startsWith("mouth") ? "#c0504d"
      : name.startsWith("eye") ? "#3b6ea8" : "#6b8e4e";
    ctx.fillRect(labelWidth, y + 1, (w - labelWidth) * v, rowHeight - 2);
  });
}
