// Checks manifests (a JSON array on stdin) against Argo Rollouts' published CRD schemas, as the
// compiled validators of @kubernetes-models/argo-rollouts (npm) hold them. Prints
// {"validated": [kind/name...], "errors": ["kind/name: message"...]}; exits 1 when any is invalid.
const path = require("path");
const models = require(path.join(__dirname, "k8s-schemas", "node_modules",
  "@kubernetes-models", "argo-rollouts", "argoproj.io", "v1alpha1"));

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = { validated: [], errors: [] };
for (const doc of input) {
  const where = `${doc.kind}/${(doc.metadata || {}).name}`;
  if (doc.apiVersion !== "argoproj.io/v1alpha1") continue;  // not an Argo kind (a Service)
  const Model = models[doc.kind];
  if (!Model) { out.errors.push(`${where}: not an Argo Rollouts kind`); continue; }
  try {
    new Model(doc).validate();
    out.validated.push(where);
  } catch (err) {
    out.errors.push(`${where}: ${err.message}`);
  }
}
process.stdout.write(JSON.stringify(out));
process.exit(out.errors.length ? 1 : 0);
