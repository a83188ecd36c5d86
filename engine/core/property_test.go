package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine/model"
)

// The property test drives random valid process models with random
// commands and checks, after every command, that no token was lost or
// invented: every token is where it waits (a user task with its open task,
// a catch event with its timer or subscription, a join waiting for the
// other branches), every scope holds a token, nothing of an ended token or
// instance is left, and each block's join fired as often as its split.
// Models are made of structured blocks — sequences, exclusive, parallel
// and inclusive gateway pairs, embedded sub-processes with error and timer
// boundary events, multi-instance activities, catch events — so that
// whatever the core does, a correct core brings each instance to its end
// or to a wait.

// modelGen writes a random process of nested blocks.
type modelGen struct {
	r        *rand.Rand
	n        int
	messages []string
	pairs    [][2]string // split and join of each gateway block
}

func (g *modelGen) id(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%d", prefix, g.n)
}

// scope collects the elements of one process or sub-process.
type scope struct {
	b       strings.Builder
	errCode string // an error boundary of the enclosing sub-process catches it
}

func (s *scope) el(format string, args ...any) { fmt.Fprintf(&s.b, format+"\n", args...) }

func (g *modelGen) flow(s *scope, from, to string, cond string) string {
	id := g.id("f")
	if cond == "" {
		s.el(`<bpmn:sequenceFlow id="%s" sourceRef="%s" targetRef="%s"/>`, id, from, to)
	} else {
		s.el(`<bpmn:sequenceFlow id="%s" sourceRef="%s" targetRef="%s"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">%s</bpmn:conditionExpression></bpmn:sequenceFlow>`, id, from, to, cond)
	}
	return id
}

// block writes a block into s and returns its entry and exit elements.
func (g *modelGen) block(s *scope, depth int) (string, string) {
	kinds := []string{"user", "user", "script", "service", "timer", "message"}
	if s.errCode != "" {
		kinds = append(kinds, "fail")
	}
	if depth < 3 {
		kinds = append(kinds, "seq", "seq", "xor", "and", "or", "sub")
	}
	switch k := kinds[g.r.IntN(len(kinds))]; k {
	case "user":
		id := g.id("user")
		mi := g.multi()
		s.el(`<bpmn:userTask id="%s">%s</bpmn:userTask>`, id, mi)
		g.boundaryTimer(s, id)
		return id, id
	case "script":
		id := g.id("script")
		s.el(`<bpmn:scriptTask id="%s" scriptFormat="juel" camunda:resultVariable="s"><bpmn:script>${r + 1}</bpmn:script></bpmn:scriptTask>`, id)
		return id, id
	case "service":
		id := g.id("work")
		s.el(`<bpmn:serviceTask id="%s" camunda:type="external" camunda:topic="work"/>`, id)
		return id, id
	case "fail":
		// The task's ID carries the code the enclosing sub-process catches.
		id := g.id("fail" + s.errCode + "_")
		s.el(`<bpmn:serviceTask id="%s" camunda:type="external" camunda:topic="fail"/>`, id)
		return id, id
	case "timer":
		id := g.id("wait")
		s.el(`<bpmn:intermediateCatchEvent id="%s"><bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT%dH</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>`, id, 1+g.r.IntN(3))
		return id, id
	case "message":
		id, msg := g.id("catch"), g.id("msg")
		g.messages = append(g.messages, msg)
		s.el(`<bpmn:intermediateCatchEvent id="%s"><bpmn:messageEventDefinition messageRef="%s"/></bpmn:intermediateCatchEvent>`, id, msg)
		return id, id
	case "seq":
		in, out := g.block(s, depth+1)
		for range 1 + g.r.IntN(2) {
			a, b := g.block(s, depth+1)
			g.flow(s, out, a, "")
			out = b
		}
		return in, out
	case "sub":
		id := g.id("sub")
		inner := &scope{}
		if g.r.IntN(2) == 0 {
			inner.errCode = g.id("E")
		}
		start, end := g.id("subStart"), g.id("subEnd")
		inner.el(`<bpmn:startEvent id="%s"/>`, start)
		a, b := g.block(inner, depth+1)
		inner.el(`<bpmn:endEvent id="%s"/>`, end)
		g.flow(inner, start, a, "")
		g.flow(inner, b, end, "")
		s.el(`<bpmn:subProcess id="%s">%s%s</bpmn:subProcess>`, id, g.multi(), inner.b.String())
		if inner.errCode != "" {
			be, bend := g.id("caught"), g.id("caughtEnd")
			s.el(`<bpmn:boundaryEvent id="%s" attachedToRef="%s"><bpmn:errorEventDefinition errorRef="err_%s"/></bpmn:boundaryEvent>`, be, id, inner.errCode)
			s.el(`<bpmn:endEvent id="%s"/>`, bend)
			g.flow(s, be, bend, "")
			g.messages = append(g.messages, "error:"+inner.errCode)
		}
		g.boundaryTimer(s, id)
		return id, id
	default: // xor, and, or
		gw := map[string]string{"xor": "exclusiveGateway", "and": "parallelGateway", "or": "inclusiveGateway"}[k]
		split, join := g.id(k+"Split"), g.id(k+"Join")
		branches := 2 + g.r.IntN(2)
		def := ""
		if k != "and" {
			def = g.id("f")
			s.el(`<bpmn:%s id="%s" default="%s"/>`, gw, split, def)
		} else {
			s.el(`<bpmn:%s id="%s"/>`, gw, split)
		}
		s.el(`<bpmn:%s id="%s"/>`, gw, join)
		for i := range branches {
			a, b := g.block(s, depth+1)
			switch {
			case k == "and":
				g.flow(s, split, a, "")
			case i == branches-1:
				s.el(`<bpmn:sequenceFlow id="%s" sourceRef="%s" targetRef="%s"/>`, def, split, a)
			case k == "xor":
				g.flow(s, split, a, fmt.Sprintf("${r == %d}", i))
			default:
				g.flow(s, split, a, fmt.Sprintf("${r &gt;= %d}", i))
			}
			g.flow(s, b, join, "")
		}
		g.pairs = append(g.pairs, [2]string{split, join})
		return split, join
	}
}

// multi sometimes makes an activity multi-instance.
func (g *modelGen) multi() string {
	switch g.r.IntN(6) {
	case 0:
		return fmt.Sprintf(`<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">%d</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>`, 1+g.r.IntN(3))
	case 1:
		return fmt.Sprintf(`<bpmn:multiInstanceLoopCharacteristics isSequential="true"><bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">%d</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>`, 1+g.r.IntN(3))
	}
	return ""
}

// boundaryTimer sometimes attaches a timer to an activity, interrupting or
// not, whose path ends at an end event of its own.
func (g *modelGen) boundaryTimer(s *scope, attached string) {
	if g.r.IntN(4) != 0 {
		return
	}
	b, end := g.id("timeout"), g.id("timeoutEnd")
	s.el(`<bpmn:boundaryEvent id="%s" attachedToRef="%s" cancelActivity="%t"><bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT%dH</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>`,
		b, attached, g.r.IntN(2) == 0, 1+g.r.IntN(4))
	s.el(`<bpmn:endEvent id="%s"/>`, end)
	g.flow(s, b, end, "")
}

// process writes a whole definitions document.
func (g *modelGen) process() string {
	s := &scope{}
	s.el(`<bpmn:startEvent id="start"/>`)
	a, b := g.block(s, 0)
	for range 2 {
		c, d := g.block(s, 1)
		g.flow(s, b, c, "")
		b = d
	}
	s.el(`<bpmn:endEvent id="end"/>`)
	g.flow(s, "start", a, "")
	g.flow(s, b, "end", "")
	var doc strings.Builder
	doc.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
<bpmn:process id="p" isExecutable="true">
`)
	doc.WriteString(s.b.String())
	doc.WriteString("</bpmn:process>\n")
	for _, m := range g.messages {
		if code, ok := strings.CutPrefix(m, "error:"); ok {
			fmt.Fprintf(&doc, `<bpmn:error id="err_%s" errorCode="%s"/>`+"\n", code, code)
			continue
		}
		fmt.Fprintf(&doc, `<bpmn:message id="%s" name="%s"/>`+"\n", m, m)
	}
	doc.WriteString("</bpmn:definitions>\n")
	return doc.String()
}

// TestPropertyTokensAreNeverLostOrInvented runs random models with random
// commands; each failure names its seed, and the model is printed.
func TestPropertyTokensAreNeverLostOrInvented(t *testing.T) {
	t.Parallel()
	models := 300
	if testing.Short() {
		models = 50
	}
	outcomes := map[InstanceState]int{}
	steps := 0
	for seed := range uint64(models) {
		r := rand.New(rand.NewPCG(seed, 2026))
		g := &modelGen{r: r}
		xml := g.process()
		env := newMemEnv(t, xml)
		env.handlers["work"] = func(_ context.Context, task *ServiceTask) error {
			task.Set("w", true)
			return nil
		}
		env.handlers["fail"] = func(_ context.Context, task *ServiceTask) error {
			if v, _ := task.Variable("r"); v.(int)%2 == 1 {
				code, _, _ := strings.Cut(strings.TrimPrefix(task.ElementID, "fail"), "_")
				return &BPMNError{Code: code, Message: "failed at " + task.ElementID}
			}
			return nil
		}
		p := &propertyRun{t: t, seed: seed, xml: xml, r: r, run: newMemRun(env), pairs: g.pairs}
		p.drive()
		outcomes[p.inst.State]++
		steps += p.steps
	}
	// A property that held only because nothing happened proves little.
	if outcomes[InstanceCompleted] < models/2 || steps < 3*models {
		t.Fatalf("the models did too little: %v, %d commands", outcomes, steps)
	}
	t.Logf("%d models: %v, %d commands", models, outcomes, steps)
}

type propertyRun struct {
	t     *testing.T
	seed  uint64
	xml   string
	r     *rand.Rand
	run   *memRun
	inst  *Instance
	pairs [][2]string
	steps int
}

func (p *propertyRun) fail(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("seed %d: %s\nmodel:\n%s", p.seed, fmt.Sprintf(format, args...), p.xml)
}

// drive starts an instance and runs random commands until none applies.
func (p *propertyRun) drive() {
	u := p.run.u
	p.do(func(c *Executor) error {
		inst, err := c.StartInstance(p.run.env.defs["p"], "", map[string]Value{"r": {TypeInteger, int32(p.r.IntN(4))}}, nil, "", nil)
		p.inst = inst
		return err
	})
	p.check()
	for step := 0; step < 200; step++ {
		var open []*TaskRow
		for _, t := range u.Tasks {
			if t.State == TaskCreated {
				open = append(open, t)
			}
		}
		var jobs []*JobRow
		for _, j := range u.Jobs {
			if j.Retries > 0 {
				jobs = append(jobs, j)
			}
		}
		subs := slices.Clone(u.Subs)
		if len(open)+len(jobs)+len(subs) == 0 {
			break
		}
		switch n := p.r.IntN(len(open) + len(jobs) + len(subs)); {
		case n < len(open):
			t := open[n]
			p.do(func(c *Executor) error {
				return c.CompleteTask(t, map[string]Value{"r": {TypeInteger, int32(p.r.IntN(4))}}, false, "prop")
			})
		case n < len(open)+len(jobs):
			j := jobs[n-len(open)]
			if j.DueAt.After(p.run.now) {
				p.run.now = j.DueAt
			}
			p.do(func(c *Executor) error { return c.RunJob(j) })
		default:
			s := subs[n-len(open)-len(jobs)]
			p.do(func(c *Executor) error { return c.Correlate(s, nil) })
		}
		p.check()
	}
	if p.inst.State == InstanceActive {
		// Nothing more can happen: every token must wait at a join whose
		// other branches an interrupting event cut short.
		for _, x := range u.Execs {
			if x.Scope || x.ID == x.InstanceID {
				continue
			}
			if x.State != ExecJoining {
				p.fail("no command applies, but token %d waits at %s in state %s", x.ID, x.ElementID(), x.State)
			}
		}
		return
	}
	// The instance ended normally: every block's join fired as often as
	// its split, unless the block was cut short by an event.
	counts := map[string]int{}
	for _, a := range u.Acts {
		if a.InstanceID == p.inst.ID && !a.Canceled {
			counts[a.ElementID]++
		}
	}
	for _, pr := range p.pairs {
		if counts[pr[1]] > counts[pr[0]] {
			p.fail("join %s fired %d times, its split %s %d times", pr[1], counts[pr[1]], pr[0], counts[pr[0]])
		}
	}
}

// do runs one command and commits it; every command of a generated model
// must succeed.
func (p *propertyRun) do(fn func(c *Executor) error) {
	p.t.Helper()
	run := p.run
	run.u.Now, run.u.NowMS = run.now, run.now.UnixMilli()
	c := NewExecutor(run.u, run.env)
	err := fn(c)
	if err == nil {
		err = c.Run()
	}
	if err != nil {
		p.fail("command failed: %v", err)
	}
	run.commit()
	run.now = run.now.Add(time.Minute)
	p.steps++
}

// check asserts the invariants on the committed state.
func (p *propertyRun) check() {
	p.t.Helper()
	u := p.run.u
	live := map[int64]*Execution{}
	for _, x := range u.Execs {
		live[x.ID] = x
	}
	inst := p.inst
	if inst.State != InstanceActive {
		if len(u.Execs) > 0 {
			p.fail("the instance %s with %d tokens left", inst.State, len(u.Execs))
		}
		for _, t := range u.Tasks {
			if t.State == TaskCreated {
				p.fail("the instance %s with task %s open", inst.State, t.ElementID)
			}
		}
		if len(u.Jobs) > 0 || len(u.Subs) > 0 {
			p.fail("the instance %s with %d jobs and %d subscriptions left", inst.State, len(u.Jobs), len(u.Subs))
		}
		for _, a := range u.Acts {
			if a.EndedAt.IsZero() {
				p.fail("the instance %s with activity %s unfinished", inst.State, a.ElementID)
			}
		}
		return
	}
	children := map[int64]int{}
	for _, x := range u.Execs {
		if x.ID == x.InstanceID {
			continue
		}
		if live[x.ParentID] == nil {
			p.fail("token %d at %s has no live parent %d", x.ID, x.ElementID(), x.ParentID)
		}
		children[x.ParentID]++
	}
	joining := map[*model.Element]map[int64]int{}
	for _, x := range u.Execs {
		if x.Scope || x.ID == x.InstanceID || x.MI != nil {
			if children[x.ID] == 0 {
				p.fail("scope %d at %s holds no token", x.ID, x.ElementID())
			}
			continue
		}
		switch x.State {
		case ExecJoining:
			if joining[x.El] == nil {
				joining[x.El] = map[int64]int{}
			}
			joining[x.El][x.ParentID]++
		case ExecWaiting, ExecAsync:
			if !p.waitsFor(x) {
				p.fail("token %d is %s at %s with nothing to wait for", x.ID, x.State, x.ElementID())
			}
		default:
			p.fail("token %d is %s at %s after the command came to rest", x.ID, x.State, x.ElementID())
		}
	}
	for el, scopes := range joining {
		for _, n := range scopes {
			if el.Kind == model.ParallelGateway && n >= len(el.Incoming) {
				p.fail("%d tokens wait at parallel join %s of %d incoming flows", n, el.ID, len(el.Incoming))
			}
		}
	}
	for _, t := range u.Tasks {
		if t.State != TaskCreated {
			continue
		}
		x := live[t.ExecutionID]
		if x == nil || x.ElementID() != t.ElementID {
			p.fail("task %s is open for a token that is not there", t.ElementID)
		}
	}
	for _, j := range u.Jobs {
		if live[j.ExecutionID] == nil {
			p.fail("job %d (%s at %s) belongs to no token", j.ID, j.Kind, j.ElementID)
		}
	}
	for _, s := range u.Subs {
		if live[s.ExecutionID] == nil {
			p.fail("subscription %d (%s) belongs to no token", s.ID, s.Name)
		}
	}
}

// waitsFor reports whether a waiting token has what it waits for: its open
// user task, or a timer or subscription at its element.
func (p *propertyRun) waitsFor(x *Execution) bool {
	u := p.run.u
	if x.El.Kind == model.UserTask {
		for _, t := range u.Tasks {
			if t.ExecutionID == x.ID && t.State == TaskCreated {
				return true
			}
		}
		return false
	}
	for _, j := range u.Jobs {
		if j.ExecutionID == x.ID && j.ElementID == x.ElementID() {
			return true
		}
	}
	for _, s := range u.Subs {
		if s.ExecutionID == x.ID && s.ElementID == x.ElementID() {
			return true
		}
	}
	return false
}
