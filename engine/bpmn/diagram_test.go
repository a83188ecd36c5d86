package bpmn_test

import (
	"encoding/xml"
	"testing"

	"github.com/tenantflow/tenantflow/engine/bpmn"
)

// The modeler files also feed the admin console's diagram rendering. The parser skips diagram
// interchange, so these types read it separately to check that the files are drawable: every
// element has exactly one shape or edge, edges join their ends with right-angled segments,
// and shapes do not overlap or leave their pool and lane.

type diBounds struct {
	X      float64 `xml:"x,attr"`
	Y      float64 `xml:"y,attr"`
	Width  float64 `xml:"width,attr"`
	Height float64 `xml:"height,attr"`
}

func (b diBounds) contains(x, y float64) bool {
	const slack = 1
	return x >= b.X-slack && x <= b.X+b.Width+slack && y >= b.Y-slack && y <= b.Y+b.Height+slack
}

func (b diBounds) inside(o diBounds) bool {
	return b.X >= o.X && b.Y >= o.Y && b.X+b.Width <= o.X+o.Width && b.Y+b.Height <= o.Y+o.Height
}

func (b diBounds) overlaps(o diBounds) bool {
	return b.X < o.X+o.Width && o.X < b.X+b.Width && b.Y < o.Y+o.Height && o.Y < b.Y+b.Height
}

type diPoint struct {
	X float64 `xml:"x,attr"`
	Y float64 `xml:"y,attr"`
}

type diDocument struct {
	Diagrams []struct {
		Plane struct {
			Element string `xml:"bpmnElement,attr"`
			Shapes  []struct {
				Element string   `xml:"bpmnElement,attr"`
				Bounds  diBounds `xml:"Bounds"`
			} `xml:"BPMNShape"`
			Edges []struct {
				Element   string    `xml:"bpmnElement,attr"`
				Waypoints []diPoint `xml:"waypoint"`
			} `xml:"BPMNEdge"`
		} `xml:"BPMNPlane"`
	} `xml:"BPMNDiagram"`
}

func TestModelerDiagrams(t *testing.T) {
	t.Parallel()
	for _, name := range modelerFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := parseFile(t, name)
			var doc diDocument
			if err := xml.Unmarshal(p.src, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Diagrams) != 1 {
				t.Fatalf("diagrams = %d, want 1", len(doc.Diagrams))
			}
			plane := doc.Diagrams[0].Plane
			d := p.defs
			if len(d.Collaborations) > 0 {
				eq(t, "plane element", plane.Element, d.Collaborations[0].ID)
			} else {
				eq(t, "plane element", plane.Element, d.Processes[0].ID)
			}

			shapes := map[string]diBounds{}
			for _, s := range plane.Shapes {
				if _, dup := shapes[s.Element]; dup {
					t.Errorf("%s has two shapes", s.Element)
				}
				if s.Bounds.Width <= 0 || s.Bounds.Height <= 0 {
					t.Errorf("%s has empty bounds %+v", s.Element, s.Bounds)
				}
				shapes[s.Element] = s.Bounds
			}
			edges := map[string][]diPoint{}
			for _, e := range plane.Edges {
				if _, dup := edges[e.Element]; dup {
					t.Errorf("%s has two edges", e.Element)
				}
				edges[e.Element] = e.Waypoints
			}

			// Which shapes and edges the model calls for, and where each node must lie.
			wantShape := map[string]bool{}
			wantEdge := map[string][2]string{}
			pool := map[string]string{} // process ID -> participant ID
			for _, co := range d.Collaborations {
				for _, pa := range co.Participants {
					wantShape[pa.ID] = true
					pool[pa.ProcessRef] = pa.ID
				}
				for _, mf := range co.MessageFlows {
					wantEdge[mf.ID] = [2]string{mf.SourceRef, mf.TargetRef}
				}
			}
			lane := map[string]string{} // node ID -> lane ID
			for _, pr := range d.Processes {
				for _, ls := range pr.LaneSets {
					for _, l := range ls.Lanes {
						wantShape[l.ID] = true
						for _, ref := range l.FlowNodeRefs {
							lane[ref] = l.ID
						}
						if pa := pool[pr.ID]; pa != "" && !shapes[l.ID].inside(shapes[pa]) {
							t.Errorf("lane %s is not inside pool %s", l.ID, pa)
						}
					}
				}
				for n := range pr.AllFlowNodes() {
					wantShape[n.ID] = true
					if pa := pool[pr.ID]; pa != "" && !shapes[n.ID].inside(shapes[pa]) {
						t.Errorf("%s is not inside pool %s", n.ID, pa)
					}
					if l := lane[n.ID]; l != "" && !shapes[n.ID].inside(shapes[l]) {
						t.Errorf("%s is not inside lane %s", n.ID, l)
					}
				}
				for f := range pr.AllSequenceFlows() {
					wantEdge[f.ID] = [2]string{f.SourceRef, f.TargetRef}
				}
			}
			for id := range wantShape {
				if _, ok := shapes[id]; !ok {
					t.Errorf("%s has no shape", id)
				}
			}
			for id := range shapes {
				if !wantShape[id] {
					t.Errorf("shape for unknown element %s", id)
				}
			}
			for id, ends := range wantEdge {
				pts, ok := edges[id]
				if !ok {
					t.Errorf("%s has no edge", id)
					continue
				}
				if len(pts) < 2 {
					t.Errorf("%s has %d waypoints", id, len(pts))
					continue
				}
				first, last := pts[0], pts[len(pts)-1]
				if !shapes[ends[0]].contains(first.X, first.Y) {
					t.Errorf("%s starts at %+v, off its source %s", id, first, ends[0])
				}
				if !shapes[ends[1]].contains(last.X, last.Y) {
					t.Errorf("%s ends at %+v, off its target %s", id, last, ends[1])
				}
				for i := 1; i < len(pts); i++ {
					if pts[i].X != pts[i-1].X && pts[i].Y != pts[i-1].Y {
						t.Errorf("%s: segment %d is diagonal", id, i)
					}
				}
			}
			for id := range edges {
				if _, ok := wantEdge[id]; !ok {
					t.Errorf("edge for unknown element %s", id)
				}
			}

			// Flow node shapes must not overlap, except a boundary event on its host.
			var nodes []*bpmn.FlowNode
			for _, pr := range d.Processes {
				for n := range pr.AllFlowNodes() {
					nodes = append(nodes, n)
				}
			}
			for i, a := range nodes {
				for _, b := range nodes[i+1:] {
					if attached(a, b) || attached(b, a) {
						continue
					}
					if shapes[a.ID].overlaps(shapes[b.ID]) {
						t.Errorf("shapes of %s and %s overlap", a.ID, b.ID)
					}
				}
			}
			for _, n := range nodes {
				if n.Kind == bpmn.KindBoundaryEvent {
					b, host := shapes[n.ID], shapes[n.Event.AttachedToRef]
					if !host.contains(b.X+b.Width/2, b.Y+b.Height/2) {
						t.Errorf("boundary event %s is not on the border of %s", n.ID, n.Event.AttachedToRef)
					}
				}
			}
		})
	}
}

func attached(boundary, host *bpmn.FlowNode) bool {
	return boundary.Kind == bpmn.KindBoundaryEvent && boundary.Event.AttachedToRef == host.ID
}
