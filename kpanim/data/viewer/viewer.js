// kpanim's local preview: loads the served .glb with three.js' GLTFLoader and plays its animation,
// in sync with the clip's audio when the server has one (the audio clock drives the mixer).
// Problems are reported back to the server (POST /log) so `kpanim view` prints them in the terminal.
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { drawArkitBars, loadAvatar, makeScene, report, reportProblems } from "./common.js";

reportProblems();

const canvas = document.getElementById("view");
const playButton = document.getElementById("play");
const seek = document.getElementById("seek");
const timeLabel = document.getElementById("time");
const statusLabel = document.getElementById("status");
const audio = document.getElementById("audio");

const { renderer, scene, camera, controls, resize } = makeScene(canvas);
const mixer = new THREE.AnimationMixer(scene);
const timer = new THREE.Timer();
let action = null, duration = 0, playing = true, useAudio = false;

// Frame the face and shoulders from the photo's viewpoint (the glTF camera at the origin).
function frameView(root) {
  root.updateMatrixWorld(true);
  const box = new THREE.Box3().setFromObject(root);
  const centre = box.getCenter(new THREE.Vector3());
  const radius = box.getBoundingSphere(new THREE.Sphere()).radius;
  const photoCam = root.getObjectByName("camera");
  const eye = photoCam ? photoCam.getWorldPosition(new THREE.Vector3()) : new THREE.Vector3(0, 0, 0);
  camera.position.copy(eye);
  const dist = eye.distanceTo(centre);
  camera.fov = THREE.MathUtils.radToDeg(2 * Math.atan(1.15 * radius / Math.max(dist, 1e-3)));
  camera.near = Math.max(dist / 100, 0.001);
  camera.far = dist * 100;
  controls.target.copy(centre);
  controls.update();
  resize();
}

// The 18 torso nodes are transforms only; show them as small spheres.
function addTorsoMarkers(root) {
  const geometry = new THREE.SphereGeometry(0.006, 12, 8);
  const material = new THREE.MeshStandardMaterial({ color: 0x3b6ea8 });
  root.traverse((obj) => { if (obj.name.startsWith("shoulder_")) obj.add(new THREE.Mesh(geometry, material)); });
}

// ARKit-52 curves (served as /arkit.json: fps, names, values[frame][shape]) as a live bar chart: what an
// ARKit-rigged character would receive at the current time.
const arkitBox = document.getElementById("arkit");
const arkitCanvas = document.getElementById("arkit-chart");
let arkit = null, arkitFrame = -1;

async function loadArkit() {
  arkit = await (await fetch("./arkit.json")).json();
  arkitBox.hidden = false;
  drawArkit(0);
}

function drawArkit(time) {
  if (!arkit || !arkit.values.length) return;
  const frame = Math.min(arkit.values.length - 1, Math.max(0, Math.round(time * arkit.fps)));
  if (frame === arkitFrame) return;
  arkitFrame = frame;
  const row = arkit.values[frame];
  drawArkitBars(arkitCanvas, arkit.names, row);
  window.kpanimArkit = { frame, jawOpen: row[arkit.names.indexOf("jawOpen")] };
}

// The user's character (--avatar): its morph targets and head bone follow the curves, interpolated
// between frames at the time shown (the face's own animation interpolates its keyframes the same way).
let avatar = null;
const avatarValues = [], avatarAngles = [0, 0, 0];

function driveAvatar(time) {
  if (!avatar || !arkit || !arkit.values.length) return;
  const last = arkit.values.length - 1, f = Math.min(last, Math.max(0, time * arkit.fps));
  const i = Math.floor(f), j = Math.min(last, i + 1), w = f - i;
  const a = arkit.values[i], b = arkit.values[j];
  for (let k = 0; k < a.length; k++) avatarValues[k] = a[k] + w * (b[k] - a[k]);
  const head = arkit.head;
  if (head && head.length > j) for (let k = 0; k < 3; k++) avatarAngles[k] = head[i][k] + w * (head[j][k] - head[i][k]);
  avatar.driver.apply(avatarValues, head ? avatarAngles : null);
  window.kpanimAvatar = { ...avatar.driver.status(), time };
}

function setTime(t) {
  if (!action) return;
  mixer.setTime(Math.min(Math.max(t, 0), duration));
}

function setPlaying(on) {
  playing = on;
  playButton.textContent = on ? "Pause" : "Play";
  if (useAudio) {
    if (on) audio.play().catch((e) => { statusLabel.textContent = `audio blocked: click Play (${e.name})`; });
    else audio.pause();
  }
}
playButton.addEventListener("click", () => setPlaying(!playing));
seek.addEventListener("input", () => {
  const t = Number(seek.value) * duration;
  if (useAudio) audio.currentTime = t;
  setTime(t);
});

async function main() {
  const config = await (await fetch("./config.json")).json();
  document.title = `kpanim view: ${config.title}`;
  const gltf = await new GLTFLoader().loadAsync("./animation.glb");
  const root = gltf.scene;
  scene.add(root);
  addTorsoMarkers(root);
  frameView(root);
  if (gltf.animations.length) {
    const clip = gltf.animations[0];
    duration = clip.duration;
    action = mixer.clipAction(clip);
    action.play();
  }
  if (config.audio) {
    audio.src = "./audio";
    useAudio = true;
    playing = false;  // browsers only start sound after a click
    playButton.textContent = "Play";
    audio.addEventListener("ended", () => setPlaying(false));
  }
  if (config.arkit) await loadArkit();
  if (config.avatar && arkit) {
    try {
      avatar = await loadAvatar(document.getElementById("avatar-view"), arkit.names);
    } catch (e) {  // the face still plays
      report("error", `avatar failed to load: ${e.message ?? e}`);
    }
    resize();  // the face's view now shares the window
  }
  const face = root.getObjectByName("face");
  const targets = face ? (face.morphTargetInfluences ?? face.children[0]?.morphTargetInfluences ?? []).length : 0;
  const extras = gltf.asset.extras ?? {};
  statusLabel.textContent = `${extras.n_frames ?? "?"} frames @ ${extras.fps ?? "?"} fps, ${targets} morph targets` +
    (config.audio ? ", with audio" : "") + (avatar ? avatarSummary(window.kpanimAvatar) : "");
  window.kpanimStatus = { loaded: true, duration, targets, tracks: gltf.animations[0]?.tracks.length ?? 0,
                          arkit: arkit ? arkit.names.length : 0,
                          avatar: avatar ? { matched: window.kpanimAvatar.matched, missing: window.kpanimAvatar.missing,
                                             headBone: window.kpanimAvatar.headBone } : null };
  report("info", `loaded: ${JSON.stringify(window.kpanimStatus)}`);
  renderer.setAnimationLoop(tick);
}

function tick(timestamp) {
  timer.update(timestamp);
  if (action && playing) {
    if (useAudio) setTime(audio.currentTime);
    else setTime((mixer.time + timer.getDelta()) % Math.max(duration, 1e-6));
  }
  seek.value = duration ? String(mixer.time / duration) : "0";
  timeLabel.textContent = `${mixer.time.toFixed(2)} s`;
  drawArkit(mixer.time);
  driveAvatar(mixer.time);
  controls.update();
  renderer.render(scene, camera);
  if (avatar) avatar.render();
}

function avatarSummary(s) {
  return `; avatar: ${s.matched} ARKit shapes` + (s.missing.length ? ` (${s.missing.length} missing)` : "") +
    (s.headBone ? `, head bone ${s.headBone}` : ", no head bone found: head not turned");
}

main().catch((e) => { statusLabel.textContent = `failed: ${e.message ?? e}`; report("error", `load failed: ${e.stack ?? e}`); });
