// BPMN diagrams, drawn by bpmn-js's navigated viewer (pan and zoom, no
// editing), with the engine's state laid over them.
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import {h} from './dom.js';

/**
 * showDiagram draws xml into container. state: {active: [activityId],
 * counts: {activityId: n}, incidents: {activityId: n}}. Returns the viewer;
 * call destroy() on it when the view goes away.
 */
export async function showDiagram(container, xml, state = {}) {
  const viewer = new NavigatedViewer({container});
  try {
    const {warnings} = await viewer.importXML(xml);
    if (warnings && warnings.length) {
      container.dataset.warnings = String(warnings.length);
    }
  } catch (err) {
    viewer.destroy();
    throw new Error(`The diagram could not be drawn: ${err.message}. The process still runs; check the file in a BPMN modeler.`);
  }
  const canvas = viewer.get('canvas');
  const registry = viewer.get('elementRegistry');
  const overlays = viewer.get('overlays');
  canvas.zoom('fit-viewport', 'auto');
  const known = (id) => registry.get(id);
  for (const id of state.active || []) {
    if (known(id)) canvas.addMarker(id, 'tf-active');
  }
  for (const [id, n] of Object.entries(state.incidents || {})) {
    if (!known(id) || !n) continue;
    canvas.addMarker(id, 'tf-incident');
    overlays.add(id, 'tf-counts', {position: {top: -12, right: 12},
      html: h('span', {class: 'tf-count incident', title: `${n} open incident(s)`}, String(n))});
  }
  for (const [id, n] of Object.entries(state.counts || {})) {
    if (!known(id) || !n) continue;
    overlays.add(id, 'tf-counts', {position: {bottom: 12, left: -12},
      html: h('span', {class: 'tf-count', title: `${n} running instance(s) here`}, String(n))});
  }
  container.dataset.ready = 'true';
  return viewer;
}

/** activeActivities walks a Camunda activity-instance tree. */
export function activeActivities(tree) {
  const out = [];
  const walk = (n) => {
    for (const c of n.childActivityInstances || []) {
      out.push(c.activityId);
      walk(c);
    }
    for (const t of n.childTransitionInstances || []) out.push(t.activityId);
  };
  if (tree) walk(tree);
  return out;
}
