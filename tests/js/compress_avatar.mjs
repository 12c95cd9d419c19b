// Makes tests/data/avatar_draco.glb and avatar_meshopt.glb: the RPM-layout stand-in (tests/avatars.py
// build_rpm_glb) compressed as Ready Player Me (Draco) and gltf-transform's optimize (meshopt) do, for the
// viewer's decoder test. Not run by the tests; to remake the files:
//   python -c "import sys; sys.path.insert(0, 'tests'); from avatars import build_rpm_glb; open('/tmp/rpm.glb', 'wb').write(build_rpm_glb())"
//   npm install --no-save @gltf-transform/core@4.5.1 @gltf-transform/extensions@4.5.1 @gltf-transform/functions@4.5.1 draco3dgltf@1.5.7 meshoptimizer@1.2.0
//   node tests/js/compress_avatar.mjs /tmp/rpm.glb tests/data
import { NodeIO } from "@gltf-transform/core";
import { ALL_EXTENSIONS } from "@gltf-transform/extensions";
import { draco, meshopt } from "@gltf-transform/functions";
import draco3d from "draco3dgltf";
import { MeshoptEncoder } from "meshoptimizer";

const [input, folder] = process.argv.slice(2);
await MeshoptEncoder.ready;
const io = new NodeIO().registerExtensions(ALL_EXTENSIONS).registerDependencies({
  "draco3d.encoder": await draco3d.createEncoderModule(), "draco3d.decoder": await draco3d.createDecoderModule(),
  "meshopt.encoder": MeshoptEncoder });
for (const [name, compress] of [["draco", draco()], ["meshopt", meshopt({ encoder: MeshoptEncoder, level: "medium" })]]) {
  const doc = await io.read(input);
  await doc.transform(compress);
  await io.write(`${folder}/avatar_${name}.glb`, doc);
}
