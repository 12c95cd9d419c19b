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

// ------------------------------------------------------------------------------ the user's avatar
// `kpanim view --avatar CHARACTER.glb`: the character's morph targets named after ARKit shapes follow the
// curves, its head bone the head rotation. Names match as kpanim matches them (kpanim.animate.arkit
// normalise_name, the Blender add-on's normalise): case and punctuation ignored, a _L/.L/-L (R) suffix
// spelled Left (Right), so jawOpen (Ready Player Me), JawOpen (VRM perfect sync) and jaw_open all match.
export function normaliseName(name) {
  const key = name.trim().replace(/[._\-\s]([lr])$/i, (_, side) => (side.toLowerCase() === "l" ? "left" : "right"));
  return key.toLowerCase().replace(/[^0-9a-z]/g, "");
}

// Head bones of common rigs, tried in this order (any case); "<namespace>:Head" matches too. The Blender
// add-on's list (blender_addon/arkit_head.py HEAD_BONE_NAMES; a test keeps them equal).
export const HEAD_BONE_NAMES = ["c_head.x", "head", "mixamorig:Head", "CC_Base_Head", "J_Bip_C_Head", "DEF-head", "head.x"];
const SHOWN_INFLUENCES = ["jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthFunnel"];

// The glTF node name of a loaded object (three.js strips ":" and "." from its own copy of the name).
function nodeNameOf(gltf, obj) {
  const a = gltf.parser.associations.get(obj);
  return (a && a.nodes !== undefined && gltf.parser.json.nodes[a.nodes]?.name) || obj.name;
}

// A mesh's morph-target names: three.js' dictionary (mesh.extras.targetNames), else the primitive's extras.
function targetNamesOf(gltf, mesh) {
  const names = [];
  for (const [name, index] of Object.entries(mesh.morphTargetDictionary ?? {})) names[index] = name;
  if (names.length && !names.every((n) => /^\d+$/.test(n))) return names;
  const a = gltf.parser.associations.get(mesh);
  const primitive = a && a.meshes !== undefined ? gltf.parser.json.meshes[a.meshes]?.primitives?.[a.primitives ?? 0] : null;
  return primitive?.extras?.targetNames ?? names;
}

export function findHeadBone(gltf) {
  const byKey = new Map(), named = [];
  gltf.scene.traverse((obj) => {
    if (obj.isMesh) return;
    const name = nodeNameOf(gltf, obj);
    named.push([name, obj]);
    if (!byKey.has(name.toLowerCase())) byKey.set(name.toLowerCase(), [name, obj]);
  });
  for (const wanted of HEAD_BONE_NAMES) if (byKey.has(wanted.toLowerCase())) return byKey.get(wanted.toLowerCase());
  return named.find(([name]) => name.includes(":") && name.split(":").pop().toLowerCase() === "head") ?? [null, null];
}

// Drives a loaded character (a GLTFLoader result, already in its scene). setNames(names) binds the curves'
// names (their order) to morph targets; apply(values, angles) sets every bound influence and turns the
// head bone: angles = [yaw, pitch, roll] (kpanim's head_angles) → R = Ry(yaw)·Rx(pitch)·Rz(roll) in world
// axes (the character facing +Z, glTF's front), applied on top of the bone's rest world rotation and
// expressed in its parent's frame (q_local = q_parentWorld⁻¹ · R · q_restWorld), so bone rolls don't matter.
export function makeAvatarDriver(gltf) {
  // VRM 0.x models face -Z (glTF's back): the same turn seen from behind, R' = Ry(π)·R·Ry(π)⁻¹, which
  // negates pitch and roll. VRM 1.0 and other glTF characters face +Z.
  const facing = gltf.parser?.json?.extensions?.VRM ? -1 : 1;
  const meshes = [];
  gltf.scene.traverse((obj) => { if (obj.isMesh && obj.morphTargetInfluences) meshes.push([obj, targetNamesOf(gltf, obj)]); });
  const [headName, head] = findHeadBone(gltf);
  gltf.scene.updateMatrixWorld(true);
  const restWorld = head ? head.getWorldQuaternion(new THREE.Quaternion()) : null;
  const euler = new THREE.Euler(0, 0, 0, "YXZ"), delta = new THREE.Quaternion(), parentWorld = new THREE.Quaternion();
  let bindings = [], matched = new Set(), missing = [], shown = [];

  // Binds the curves (their names, in order) to morph targets; what status() reports of the binding is
  // worked out here, once, not per frame.
  function setNames(curveNames) {
    const index = new Map(curveNames.map((n, i) => [normaliseName(n), i]));
    bindings = [];
    matched = new Set();
    for (const [mesh, targetNames] of meshes) {
      targetNames.forEach((name, t) => {
        const k = index.get(normaliseName(String(name)));
        if (k !== undefined) { bindings.push([k, mesh, t]); matched.add(k); }
      });
    }
    missing = curveNames.filter((n, k) => !matched.has(k));
    shown = SHOWN_INFLUENCES.map((name) => [name, bindings.find(([k]) => curveNames[k] === name)]);
  }

  function apply(values, angles) {
    for (const [k, mesh, t] of bindings) mesh.morphTargetInfluences[t] = values[k];
    if (head && angles) {
      euler.set(facing * angles[1], angles[0], facing * angles[2], "YXZ");  // x: pitch, y: yaw, z: roll
      delta.setFromEuler(euler).multiply(restWorld);  // R · q_restWorld
      if (head.parent) head.parent.getWorldQuaternion(parentWorld); else parentWorld.identity();
      head.quaternion.copy(parentWorld.invert().multiply(delta));
    }
  }

  function status() {
    const influences = {};
    for (const [name, b] of shown) influences[name] = b ? b[1].morphTargetInfluences[b[2]] : null;
    const headWorld = head ? head.getWorldQuaternion(new THREE.Quaternion()).toArray() : null;
    return { loaded: true, matched: matched.size, targets: bindings.length, headBone: headName, facing,
             missing, influences, headWorld };
  }

  // The part to look at: the driven meshes (the face), else the whole character.
  function focus() {
    const box = new THREE.Box3();
    for (const [mesh] of meshes) if (bindings.some(([, m]) => m === mesh)) box.expandByObject(mesh);
    return box.isEmpty() ? new THREE.Box3().setFromObject(gltf.scene) : box;
  }
  return { setNames, apply, status, focus, headName, facing };
}

// Loads ./avatar.glb into its own scene on `canvas` (shown next to the kpanim face), framed on its face.
// Returns { driver, render }; window.kpanimAvatar carries the driver's status for tests and the curious.
export async function loadAvatar(canvas, names) {
  const { GLTFLoader } = await import("three/addons/loaders/GLTFLoader.js");
  const loader = new GLTFLoader();
  // Compressed characters (Draco, meshopt: Ready Player Me's meshCompression, gltf-transform's optimize) decode
  // with the vendored decoders; nothing is fetched from the network.
  const { DRACOLoader } = await import("three/addons/loaders/DRACOLoader.js");
  const { MeshoptDecoder } = await import("three/addons/libs/meshopt_decoder.module.js");
  loader.setDRACOLoader(new DRACOLoader().setDecoderPath("./vendor/three/addons/libs/draco/gltf/"));
  loader.setMeshoptDecoder(MeshoptDecoder);
  const gltf = await loader.loadAsync("./avatar.glb");
  document.body.classList.add("with-avatar");
  canvas.hidden = false;
  const view = makeScene(canvas, 1000);
  view.scene.add(gltf.scene);
  const driver = makeAvatarDriver(gltf);
  driver.setNames(names);
  const box = driver.focus();
  const centre = box.getCenter(new THREE.Vector3());
  const radius = Math.max(box.getBoundingSphere(new THREE.Sphere()).radius, 0.05);
  view.camera.position.set(centre.x, centre.y, centre.z + driver.facing * 4.5 * radius);  // in front of the face
  view.camera.near = radius / 20;
  view.camera.far = radius * 200;
  view.controls.target.copy(centre);
  view.controls.update();
  view.resize();
  window.kpanimAvatar = driver.status();
  return {
    driver,
    render() { view.controls.update(); view.renderer.render(view.scene, view.camera); },
  };
}
