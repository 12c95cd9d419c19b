// kpanim view --live: the microphone (getUserMedia) → a kpanim WebSocket server (docs/STREAMING.md) →
// the face mesh and the ARKit bars, as the person speaks. Frames are shown on the audio clock at a fixed
// delay (the server's look-ahead + one step + a margin), so the face moves smoothly at 25 fps.
// Problems are reported back to the page's server (POST /log), which prints them in the terminal.
import * as THREE from "three";
import { drawArkitBars, loadAvatar, makeScene, report, reportProblems } from "./common.js";

reportProblems();

const canvas = document.getElementById("view");
const startButton = document.getElementById("start");
const levelMeter = document.getElementById("level");
const statusLabel = document.getElementById("status");
const live = { state: "loading", received: 0, shown: -1, jawOpen: 0, head: null, lipTravel: 0, error: null,
               avatarJaw: null };  // --avatar: [min, max] of its jawOpen influence so far
window.kpanimLive = live;
const setStatus = (text) => { statusLabel.textContent = text; };

// ------------------------------------------------------------------------------------------- scene
const { renderer, scene, camera, controls, resize } = makeScene(canvas, 10);
const head = new THREE.Group();
scene.add(head);
let positions = null, geometry = null, neutral = null;

function buildFace(mesh) {
  neutral = Float32Array.from(mesh.neutral);
  positions = new THREE.BufferAttribute(Float32Array.from(neutral), 3);
  geometry = new THREE.BufferGeometry();
  geometry.setAttribute("position", positions);
  geometry.setIndex(mesh.triangles);
  geometry.computeVertexNormals();
  const material = new THREE.MeshStandardMaterial({ color: 0xd8a48f, roughness: 0.7, side: THREE.DoubleSide });
  head.add(new THREE.Mesh(geometry, material));
  geometry.computeBoundingSphere();
  const { center, radius } = geometry.boundingSphere;
  camera.position.set(center.x, center.y, center.z + 4.2 * radius);
  controls.target.copy(center);
  controls.update();
  resize();
}

// ------------------------------------------------------------------------------------- ARKit bars
const arkitCanvas = document.getElementById("arkit-chart");
let arkitNames = [];

function drawArkit(row) {
  const shown = arkitNames.map((n, i) => i).filter((i) => arkitNames[i] !== "tongueOut");
  drawArkitBars(arkitCanvas, shown.map((i) => arkitNames[i]), shown.map((i) => row[i]));
}

// ---------------------------------------------------------------------------------- the protocol
const BLOCKS = [["arkit", 52], ["head", 3], ["head_pose", 6], ["lip", 120], ["eye", 180], ["torso", 54], ["dense", 1434]];

function decodeFrames(buffer) {  // binary frames message (docs/STREAMING.md)
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== "KPF1") throw new Error(`not a kpanim frames message (${magic})`);
  const first = view.getUint32(4, true), n = view.getUint16(8, true), mask = view.getUint16(10, true);
  const frames = Array.from({ length: n }, (_, j) => ({ index: first + j }));
  let offset = 12;
  BLOCKS.forEach(([name, dim], bit) => {
    if (!(mask >> bit & 1)) return;
    const values = new Float32Array(buffer.slice(offset, offset + 4 * n * dim));
    frames.forEach((f, j) => { f[name] = values.subarray(j * dim, (j + 1) * dim); });
    offset += 4 * n * dim;
  });
  return frames;
}

let hello = null, queue = [], audioCtx = null, t0 = null, delay = 0.4;
const lipIndex = [];  // dense rows of the inner-lip midpoints 13 / 14: mouth opening for the status

function applyFrame(f) {
  positions.array.set(f.dense);
  positions.needsUpdate = true;
  geometry.computeVertexNormals();
  const r = f.head_pose, angle = Math.hypot(r[0], r[1], r[2]);
  if (angle > 1e-9) head.quaternion.setFromAxisAngle(new THREE.Vector3(r[0] / angle, r[1] / angle, r[2] / angle), angle);
  drawArkit(f.arkit);
  live.shown = f.index;
  live.jawOpen = f.arkit[arkitNames.indexOf("jawOpen")];
  live.head = Array.from(f.head);  // yaw, pitch, roll
  const gap = f.dense[13 * 3 + 1] - f.dense[14 * 3 + 1], gap0 = neutral[13 * 3 + 1] - neutral[14 * 3 + 1];
  live.lipTravel = Math.max(live.lipTravel, Math.abs(gap - gap0));
  if (avatar) {  // --avatar: the character follows the same frame (its ARKit shapes, its head bone)
    avatar.driver.apply(f.arkit, f.head);
    const state = avatar.driver.status(), jaw = state.influences.jawOpen ?? 0;
    window.kpanimAvatar = state;
    live.avatarJaw = live.avatarJaw ? [Math.min(live.avatarJaw[0], jaw), Math.max(live.avatarJaw[1], jaw)] : [jaw, jaw];
  }
}

function connect(url, sampleRate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws.send(JSON.stringify({ type: "start", sample_rate: sampleRate, format: "binary",
                                               streams: ["arkit", "head", "head_pose", "dense"] }));
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") {
        const frames = decodeFrames(event.data);
        live.received += frames.length;
        queue.push(...frames);
        return;
      }
      const msg = JSON.parse(event.data);
      if (msg.type === "hello") {
        hello = msg;
        arkitNames = msg.arkit_names;
        if (avatar) avatar.driver.setNames(arkitNames);
        delay = (msg.lookahead_ms + 40 * msg.hop_frames + 120) / 1000;
      } else if (msg.type === "started") {
        resolve(ws);
      } else if (msg.type === "error") {
        live.error = msg.message;
        setStatus(`server: ${msg.message}`);
        reject(new Error(msg.message));
      }
    };
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    ws.onclose = (e) => {
      if (live.state === "streaming") { live.state = "closed"; setStatus(`server closed the stream (${e.code} ${e.reason})`); }
    };
  });
}

async function start() {
  startButton.disabled = true;
  try {
    setStatus("asking for the microphone…");
    const media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
    try { audioCtx = new AudioContext({ sampleRate: 16000 }); } catch { audioCtx = new AudioContext(); }
    await audioCtx.resume();
    const ws = await connect(config.server, audioCtx.sampleRate);
    const source = audioCtx.createMediaStreamSource(media);
    const node = audioCtx.createScriptProcessor(512, 1, 1);  // 32 ms at 16 kHz
    const mute = audioCtx.createGain();
    mute.gain.value = 0;
    node.onaudioprocess = (e) => {
      const x = e.inputBuffer.getChannelData(0);
      const pcm = new Int16Array(x.length);
      let peak = 0;
      for (let i = 0; i < x.length; i++) {
        const v = Math.max(-1, Math.min(1, x[i]));
        pcm[i] = v * 32767;
        peak = Math.max(peak, Math.abs(v));
      }
      levelMeter.value = peak;
      if (t0 === null) t0 = e.playbackTime - x.length / audioCtx.sampleRate;  // audio time of sample 0
      if (ws.readyState === WebSocket.OPEN) ws.send(pcm.buffer);
    };
    source.connect(node);
    node.connect(mute);
    mute.connect(audioCtx.destination);
    live.state = "streaming";
    setStatus(`live: ${hello.model}, look-ahead ${hello.lookahead_ms} ms, shown ${Math.round(delay * 1000)} ms behind the voice`);
    report("info", `live: streaming to ${config.server} at ${audioCtx.sampleRate} Hz`);
  } catch (e) {
    live.state = "failed";
    live.error = String(e.message ?? e);
    setStatus(`failed: ${live.error}`);
    startButton.disabled = false;
    report("error", `live start failed: ${live.error}`);
  }
}
startButton.addEventListener("click", start);

function tick() {
  if (audioCtx && t0 !== null && queue.length) {
    const target = (audioCtx.currentTime - t0 - delay) * 25;
    let frame = null;
    while (queue.length && queue[0].index <= target) frame = queue.shift();
    if (queue.length > 50) frame = queue.splice(0, queue.length - 5).pop();  // fell far behind: catch up
    if (frame) applyFrame(frame);
  }
  controls.update();
  renderer.render(scene, camera);
  if (avatar) avatar.render();
}

let config = null, avatar = null;
async function main() {
  config = await (await fetch("./config.json")).json();
  document.title = `kpanim live: ${config.title}`;
  if (config.avatar) {
    try {
      avatar = await loadAvatar(document.getElementById("avatar-view"), config.arkit_names);
    } catch (e) {  // the face still works
      report("error", `avatar failed to load: ${e.message ?? e}`);
    }
  }
  buildFace(await (await fetch("./mesh.json")).json());
  drawArkit(new Array(52).fill(0));
  renderer.setAnimationLoop(tick);
  live.state = "ready";
  const a = window.kpanimAvatar;
  setStatus(`ready: press Start and speak (server ${config.server})` + (!a ? "" : `; avatar: ${a.matched} ARKit shapes` +
    (a.headBone ? `, head bone ${a.headBone}` : ", no head bone found: head not turned")));
  report("info", `loaded: ${JSON.stringify({ live: true, server: config.server })}`);
}
main().catch((e) => { setStatus(`failed: ${e.message ?? e}`); report("error", `load failed: ${e.stack ?? e}`); });
