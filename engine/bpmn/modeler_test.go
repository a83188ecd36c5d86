package bpmn_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/engine/bpmn"
)

const modelerDir = "../testdata/modeler"

// parsed is a parsed modeler file with lookups by ID, for assertions.
type parsed struct {
	src   []byte
	defs  *bpmn.Definitions
	nodes map[string]*bpmn.FlowNode
	flows map[string]*bpmn.SequenceFlow
}

func parseFile(t *testing.T, name string) *parsed {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(modelerDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defs, err := bpmn.ParseBytes(src, bpmn.Options{})
	if err != nil {
		t.Fatalf("ParseBytes(%s): %v", name, err)
	}
	p := &parsed{src: src, defs: defs, nodes: map[string]*bpmn.FlowNode{}, flows: map[string]*bpmn.SequenceFlow{}}
	for _, pr := range defs.Processes {
		for n := range pr.AllFlowNodes() {
			if p.nodes[n.ID] != nil {
				t.Fatalf("%s: duplicate flow node %s", name, n.ID)
			}
			p.nodes[n.ID] = n
		}
		for f := range pr.AllSequenceFlows() {
			p.flows[f.ID] = f
		}
	}
	return p
}

func (p *parsed) node(t *testing.T, id string) *bpmn.FlowNode {
	t.Helper()
	n := p.nodes[id]
	if n == nil {
		t.Fatalf("no flow node %s", id)
	}
	return n
}

func (p *parsed) flow(t *testing.T, id string) *bpmn.SequenceFlow {
	t.Helper()
	f := p.flows[id]
	if f == nil {
		t.Fatalf("no sequence flow %s", id)
	}
	return f
}

// lineOf returns the 1-based line of the first occurrence of s in src, computed
// independently of the parser.
func lineOf(t *testing.T, src []byte, s string) int {
	t.Helper()
	i := bytes.Index(src, []byte(s))
	if i < 0 {
		t.Fatalf("%q not in source", s)
	}
	return bytes.Count(src[:i], []byte("\n")) + 1
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqSlice[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func modelerFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(modelerDir, "*.bpmn"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d modeler files, want at least 4", len(files))
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

// TestModelerFilesConsistent checks what must hold for every modeler file: each element's line
// is where its start tag is, incoming and outgoing agree with the sequence flows, lanes cover
// every node once, and nothing is unsupported.
func TestModelerFilesConsistent(t *testing.T) {
	t.Parallel()
	for _, name := range modelerFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := parseFile(t, name)
			eq(t, "Exporter", p.defs.Exporter, "Camunda Modeler")
			eq(t, "Line", p.defs.Line, 2)
			if len(p.defs.Unsupported) > 0 {
				t.Errorf("Unsupported = %+v, want none", p.defs.Unsupported[0])
			}
			for id, n := range p.nodes {
				eq(t, id+" line", n.Line, lineOf(t, p.src, `id="`+id+`"`))
			}
			for id, f := range p.flows {
				eq(t, id+" line", f.Line, lineOf(t, p.src, `id="`+id+`"`))
				src, dst := p.node(t, f.SourceRef), p.node(t, f.TargetRef)
				if !slices.Contains(src.Outgoing, id) {
					t.Errorf("%s: source %s does not list it as outgoing", id, src.ID)
				}
				if !slices.Contains(dst.Incoming, id) {
					t.Errorf("%s: target %s does not list it as incoming", id, dst.ID)
				}
			}
			for id, n := range p.nodes {
				for _, ref := range slices.Concat(n.Incoming, n.Outgoing) {
					if p.flows[ref] == nil {
						t.Errorf("%s refers to unknown flow %s", id, ref)
					}
				}
			}
			for _, pr := range p.defs.Processes {
				if len(pr.LaneSets) == 0 {
					continue
				}
				seen := map[string]int{}
				for _, ln := range pr.LaneSets[0].Lanes {
					for _, ref := range ln.FlowNodeRefs {
						seen[ref]++
					}
				}
				for n := range pr.AllFlowNodes() {
					if seen[n.ID] != 1 {
						t.Errorf("%s is in %d lanes, want 1", n.ID, seen[n.ID])
					}
				}
			}
		})
	}
}

func TestOrderFulfilment(t *testing.T) {
	t.Parallel()
	p := parseFile(t, "order-fulfilment.bpmn")
	d := p.defs
	eq(t, "ID", d.ID, "Definitions_0k7w3x2")
	eq(t, "TargetNamespace", d.TargetNamespace, "http://bpmn.io/schema/bpmn")
	eq(t, "ExporterVersion", d.ExporterVersion, "5.22.0")
	eq(t, "ExecutionPlatform", d.ExecutionPlatform, "Camunda Platform")
	eq(t, "ExecutionPlatformVersion", d.ExecutionPlatformVersion, "7.21.0")
	if len(d.Processes) != 1 || len(d.Collaborations) != 0 {
		t.Fatalf("got %d processes, %d collaborations; want 1, 0", len(d.Processes), len(d.Collaborations))
	}
	pr := d.Processes[0]
	eq(t, "process ID", pr.ID, "order_fulfilment")
	eq(t, "process Name", pr.Name, "Order fulfilment")
	eq(t, "process Line", pr.Line, 3)
	eq(t, "IsExecutable", pr.IsExecutable, true)
	eq(t, "HistoryTimeToLive", pr.HistoryTimeToLive, "P30D")
	eq(t, "VersionTag", pr.VersionTag, "1.2")
	if !strings.HasPrefix(pr.Documentation, "Checks an incoming order") {
		t.Errorf("process Documentation = %q", pr.Documentation)
	}

	kinds := map[string]bpmn.Kind{
		"StartEvent_OrderReceived":      bpmn.KindStartEvent,
		"Task_CheckOrder":               bpmn.KindUserTask,
		"Gateway_Amount":                bpmn.KindExclusiveGateway,
		"Task_ApproveLarge":             bpmn.KindUserTask,
		"Gateway_Merge":                 bpmn.KindExclusiveGateway,
		"Task_ReserveStock":             bpmn.KindServiceTask,
		"Task_ShipOrder":                bpmn.KindServiceTask,
		"EndEvent_OrderShipped":         bpmn.KindEndEvent,
		"BoundaryEvent_ApprovalTimeout": bpmn.KindBoundaryEvent,
		"Task_NotifyCustomer":           bpmn.KindServiceTask,
		"EndEvent_OrderCancelled":       bpmn.KindEndEvent,
	}
	eq(t, "flow nodes", len(p.nodes), len(kinds))
	eq(t, "sequence flows", len(p.flows), 10)
	for id, k := range kinds {
		eq(t, id+" Kind", p.node(t, id).Kind, k)
	}
	// Document order is kept.
	eq(t, "first node", pr.FlowNodes[0].ID, "StartEvent_OrderReceived")
	eq(t, "first flow", pr.SequenceFlows[0].ID, "Flow_0s1t2ab")

	start := p.node(t, "StartEvent_OrderReceived")
	eq(t, "start Name", start.Name, "Order received")
	eq(t, "start Line", start.Line, 5)
	eq(t, "start Initiator", start.Event.Initiator, "starter")
	eq(t, "start definitions", len(start.Event.Definitions), 0)

	check := p.node(t, "Task_CheckOrder")
	eq(t, "check Line", check.Line, 9)
	eq(t, "CandidateGroups", check.UserTask.CandidateGroups, "sales")
	eq(t, "FormKey", check.UserTask.FormKey, "camunda-forms:deployment:check-order.form")
	eq(t, "DueDate", check.UserTask.DueDate, "${orderDueDate}")
	eq(t, "Priority", check.UserTask.Priority, "60")
	eq(t, "check Documentation", check.Documentation, "Sales checks the customer data and the order lines.")
	eqSlice(t, "check Incoming", check.Incoming, []string{"Flow_0s1t2ab"})
	eqSlice(t, "check Outgoing", check.Outgoing, []string{"Flow_1c8k3dq"})
	eq(t, "check Async", check.Async, bpmn.Async{Exclusive: true})

	approve := p.node(t, "Task_ApproveLarge")
	eq(t, "CandidateUsers", approve.UserTask.CandidateUsers, "cfo")
	eq(t, "CandidateGroups", approve.UserTask.CandidateGroups, "management")

	gw := p.node(t, "Gateway_Amount")
	eq(t, "gateway Default", gw.Default, "Flow_Standard")
	eqSlice(t, "gateway Outgoing", gw.Outgoing, []string{"Flow_Standard", "Flow_Large"})

	large := p.flow(t, "Flow_Large")
	eq(t, "Flow_Large SourceRef", large.SourceRef, "Gateway_Amount")
	eq(t, "Flow_Large TargetRef", large.TargetRef, "Task_ApproveLarge")
	eq(t, "Flow_Large Name", large.Name, "over 1000")
	if large.Condition == nil {
		t.Fatal("Flow_Large has no condition")
	}
	eq(t, "condition", *large.Condition, bpmn.Expression{Text: "${amount > 1000}", Line: lineOf(t, p.src, "${amount &gt; 1000}")})
	if c := p.flow(t, "Flow_Standard").Condition; c != nil {
		t.Errorf("Flow_Standard condition = %+v, want none", c)
	}

	reserve := p.node(t, "Task_ReserveStock")
	eq(t, "reserve Implementation", *reserve.Implementation, bpmn.TaskImplementation{Type: "external", Topic: "reserve-stock", TaskPriority: "10"})
	eq(t, "reserve Async", reserve.Async, bpmn.Async{Before: true, Exclusive: true, FailedJobRetryTimeCycle: "R3/PT10M"})
	io := reserve.InputOutput
	if io == nil || len(io.Inputs) != 1 || len(io.Outputs) != 1 {
		t.Fatalf("reserve InputOutput = %+v", io)
	}
	eq(t, "input", *io.Inputs[0], bpmn.Parameter{Name: "orderId", Kind: bpmn.ParamText, Value: "${orderId}", Line: lineOf(t, p.src, `name="orderId"`)})
	eq(t, "output", *io.Outputs[0], bpmn.Parameter{Name: "reservationId", Kind: bpmn.ParamText, Value: "${reservation}", Line: lineOf(t, p.src, `name="reservationId"`)})

	eqSlice(t, "ship Properties", p.node(t, "Task_ShipOrder").Properties, []bpmn.Property{{Name: "carrier", Value: "standard"}})
	eq(t, "ship Topic", p.node(t, "Task_ShipOrder").Implementation.Topic, "ship-order")

	timeout := p.node(t, "BoundaryEvent_ApprovalTimeout")
	eq(t, "AttachedToRef", timeout.Event.AttachedToRef, "Task_ApproveLarge")
	eq(t, "CancelActivity", timeout.Event.CancelActivity, true)
	if len(timeout.Event.Definitions) != 1 {
		t.Fatalf("timer definitions = %d, want 1", len(timeout.Event.Definitions))
	}
	eq(t, "timer", *timeout.Event.Definitions[0], bpmn.EventDefinition{
		Kind:         bpmn.EventTimer,
		ID:           "TimerEventDefinition_1q0vx3e",
		Line:         lineOf(t, p.src, `id="TimerEventDefinition_1q0vx3e"`),
		TimeDuration: "PT48H",
	})
}

func TestInvoiceApproval(t *testing.T) {
	t.Parallel()
	p := parseFile(t, "invoice-approval.bpmn")
	d := p.defs
	if len(d.Collaborations) != 1 || len(d.Collaborations[0].Participants) != 1 {
		t.Fatalf("collaborations = %+v", d.Collaborations)
	}
	eq(t, "participant", *d.Collaborations[0].Participants[0], bpmn.Participant{
		ID: "Participant_InvoiceApproval", Name: "Invoice approval", ProcessRef: "invoice_approval", Line: 4,
	})
	pr := d.Processes[0]
	eq(t, "HistoryTimeToLive", pr.HistoryTimeToLive, "180")
	eq(t, "CandidateStarterGroups", pr.CandidateStarterGroups, "assistants,accounting")
	if len(pr.LaneSets) != 1 {
		t.Fatalf("lane sets = %d, want 1", len(pr.LaneSets))
	}
	ls := pr.LaneSets[0]
	eq(t, "lane set ID", ls.ID, "LaneSet_1c9h7uw")
	var lanes []string
	for _, l := range ls.Lanes {
		lanes = append(lanes, l.ID+"="+l.Name)
		eq(t, l.ID+" line", l.Line, lineOf(t, p.src, `id="`+l.ID+`"`))
	}
	eqSlice(t, "lanes", lanes, []string{"Lane_TeamAssistant=Team assistant", "Lane_Approver=Approver", "Lane_Accounting=Accounting"})
	eqSlice(t, "approver lane", ls.Lanes[1].FlowNodeRefs, []string{"Task_ApproveInvoice", "Gateway_Approved"})

	start := p.node(t, "StartEvent_InvoiceReceived")
	eq(t, "start FormKey", start.Event.FormKey, "camunda-forms:deployment:start-invoice.form")
	eq(t, "start Initiator", start.Event.Initiator, "starter")

	approve := p.node(t, "Task_ApproveInvoice")
	eq(t, "approve UserTask", *approve.UserTask, bpmn.UserTask{
		Assignee:     "${approver}",
		DueDate:      "${approvalDueDate}",
		FollowUpDate: "${approvalFollowUpDate}",
		FormKey:      "camunda-forms:deployment:approve-invoice.form",
		Priority:     "60",
	})
	eqSlice(t, "approve Incoming", approve.Incoming, []string{"Flow_0hd6w2n", "Flow_ReviewOk"})
	if approve.Loop == nil {
		t.Fatal("approve has no loop")
	}
	eq(t, "loop", *approve.Loop, bpmn.Loop{
		Kind:                bpmn.LoopMultiInstance,
		Line:                lineOf(t, p.src, "<bpmn:multiInstanceLoopCharacteristics"),
		IsSequential:        true,
		CompletionCondition: "${!approved}",
		Collection:          "${approvers}",
		ElementVariable:     "approver",
		Async:               bpmn.Async{Exclusive: true},
	})

	eq(t, "review Assignee", p.node(t, "Task_ReviewInvoice").UserTask.Assignee, "${starter}")
	eq(t, "review gateway default", p.node(t, "Gateway_ReviewSuccessful").Default, "")
	eq(t, "Flow_ReviewOk condition", p.flow(t, "Flow_ReviewOk").Condition.Text, "${clarified}")
	eq(t, "Flow_NotApproved target", p.flow(t, "Flow_NotApproved").TargetRef, "Task_ReviewInvoice")
}

func TestCustomerSupplier(t *testing.T) {
	t.Parallel()
	p := parseFile(t, "customer-supplier.bpmn")
	d := p.defs
	if len(d.Collaborations) != 1 {
		t.Fatalf("collaborations = %d, want 1", len(d.Collaborations))
	}
	co := d.Collaborations[0]
	eq(t, "collaboration ID", co.ID, "Collaboration_Procurement")
	var pools []string
	for _, pa := range co.Participants {
		pools = append(pools, pa.ID+"->"+pa.ProcessRef)
	}
	eqSlice(t, "pools", pools, []string{"Participant_Customer->customer_procurement", "Participant_Supplier->supplier_quotation"})
	if len(co.MessageFlows) != 2 {
		t.Fatalf("message flows = %d, want 2", len(co.MessageFlows))
	}
	eq(t, "message flow", *co.MessageFlows[1], bpmn.MessageFlow{
		ID: "MessageFlow_Quote", SourceRef: "SendTask_SendQuote", TargetRef: "CatchEvent_QuoteReceived",
		Line: lineOf(t, p.src, `id="MessageFlow_Quote"`),
	})

	var procs []string
	for _, pr := range d.Processes {
		procs = append(procs, pr.ID)
		eq(t, pr.ID+" IsExecutable", pr.IsExecutable, true)
	}
	eqSlice(t, "processes", procs, []string{"customer_procurement", "supplier_quotation"})
	eq(t, "customer nodes", len(d.Processes[0].FlowNodes), 8)
	eq(t, "supplier nodes", len(d.Processes[1].FlowNodes), 4)

	if len(d.Messages) != 2 {
		t.Fatalf("messages = %d, want 2", len(d.Messages))
	}
	eq(t, "message", *d.Messages[1], bpmn.Message{ID: "Message_Quote", Name: "Quote", Line: lineOf(t, p.src, `id="Message_Quote"`)})

	eq(t, "gateway kind", p.node(t, "Gateway_WaitForQuote").Kind, bpmn.KindEventBasedGateway)
	quote := p.node(t, "CatchEvent_QuoteReceived")
	eq(t, "quote kind", quote.Kind, bpmn.KindIntermediateCatchEvent)
	eq(t, "quote definition", *quote.Event.Definitions[0], bpmn.EventDefinition{
		Kind: bpmn.EventMessage, ID: "MessageEventDefinition_0p7q1wz", MessageRef: "Message_Quote",
		Line: lineOf(t, p.src, `id="MessageEventDefinition_0p7q1wz"`),
	})
	eq(t, "timeout", p.node(t, "CatchEvent_QuoteTimeout").Event.Definitions[0].TimeDuration, "P3D")
	start := p.node(t, "StartEvent_RequestReceived")
	eq(t, "start kind", start.Event.Definitions[0].Kind, bpmn.EventMessage)
	eq(t, "start message", start.Event.Definitions[0].MessageRef, "Message_QuoteRequest")
	eq(t, "start interrupting", start.Event.IsInterrupting, true)
	send := p.node(t, "SendTask_RequestQuote")
	eq(t, "send kind", send.Kind, bpmn.KindSendTask)
	eq(t, "send implementation", *send.Implementation, bpmn.TaskImplementation{Type: "external", Topic: "send-quote-request"})
}

func TestLoanApplicationCamunda8(t *testing.T) {
	t.Parallel()
	p := parseFile(t, "loan-application-c8.bpmn")
	d := p.defs
	eq(t, "ExecutionPlatform", d.ExecutionPlatform, "Camunda Cloud")
	eq(t, "ExecutionPlatformVersion", d.ExecutionPlatformVersion, "8.6.0")
	if len(d.Errors) != 1 {
		t.Fatalf("errors = %d, want 1", len(d.Errors))
	}
	eq(t, "error", *d.Errors[0], bpmn.Error{
		ID: "Error_DisbursementFailed", Name: "Disbursement failed", ErrorCode: "DISBURSEMENT_FAILED",
		Line: lineOf(t, p.src, `<bpmn:error id=`),
	})
	pr := d.Processes[0]
	eq(t, "HistoryTimeToLive", pr.HistoryTimeToLive, "")

	credit := p.node(t, "Task_CheckCredit")
	if credit.Zeebe == nil || credit.Zeebe.TaskDefinition == nil || credit.Zeebe.IOMapping == nil {
		t.Fatalf("credit Zeebe = %+v", credit.Zeebe)
	}
	eq(t, "task definition", *credit.Zeebe.TaskDefinition, bpmn.ZeebeTaskDefinition{Type: "credit-check", Retries: "3"})
	eqSlice(t, "inputs", credit.Zeebe.IOMapping.Inputs, []bpmn.ZeebeMapping{{Source: "=applicant.id", Target: "applicantId", Line: lineOf(t, p.src, `target="applicantId"`)}})
	eqSlice(t, "outputs", credit.Zeebe.IOMapping.Outputs, []bpmn.ZeebeMapping{{Source: "=score", Target: "creditScore", Line: lineOf(t, p.src, `target="creditScore"`)}})
	eqSlice(t, "headers", credit.Zeebe.TaskHeaders, []bpmn.ZeebeHeader{{Key: "bureau", Value: "primary"}})
	// Camunda 7 attributes are absent, not invented.
	eq(t, "credit Implementation", *credit.Implementation, bpmn.TaskImplementation{})

	eq(t, "accept condition", p.flow(t, "Flow_Accept").Condition.Text, "=creditScore >= 600")
	eq(t, "score default", p.node(t, "Gateway_Score").Default, "Flow_Reject")

	fee := p.node(t, "Task_CalculateFee")
	eq(t, "fee kind", fee.Kind, bpmn.KindScriptTask)
	eq(t, "fee script", *fee.Zeebe.Script, bpmn.ZeebeScript{Expression: "=amount * 0.01", ResultVariable: "fee"})
	eq(t, "fee ScriptTask", *fee.Script, bpmn.ScriptTask{})

	verify := p.node(t, "Task_VerifyDocument")
	z := verify.Zeebe
	if z == nil || z.Assignment == nil || z.Form == nil || z.TaskSchedule == nil {
		t.Fatalf("verify Zeebe = %+v", z)
	}
	eq(t, "assignment", *z.Assignment, bpmn.ZeebeAssignment{CandidateGroups: "loan-officers"})
	eq(t, "form", *z.Form, bpmn.ZeebeForm{FormID: "verify-document"})
	eq(t, "schedule", *z.TaskSchedule, bpmn.ZeebeTaskSchedule{DueDate: `=now() + duration("P2D")`})
	if verify.Loop == nil || verify.Loop.Zeebe == nil {
		t.Fatalf("verify Loop = %+v", verify.Loop)
	}
	eq(t, "loop sequential", verify.Loop.IsSequential, false)
	eq(t, "zeebe loop", *verify.Loop.Zeebe, bpmn.ZeebeLoop{
		InputCollection: "=documents", InputElement: "document", OutputCollection: "verifications", OutputElement: "=verified",
	})

	call := p.node(t, "CallActivity_Disburse")
	eq(t, "call kind", call.Kind, bpmn.KindCallActivity)
	eq(t, "called element", *call.Zeebe.CalledElement, bpmn.ZeebeCalledElement{
		ProcessID: "loan-disbursement", PropagateAllChildVariables: false, PropagateAllParentVariables: true,
	})
	eq(t, "call inputs", len(call.Zeebe.IOMapping.Inputs), 1)
	eq(t, "call CalledElement", call.CallActivity.CalledElement, "")

	failed := p.node(t, "BoundaryEvent_DisbursementFailed")
	eq(t, "boundary attached", failed.Event.AttachedToRef, "CallActivity_Disburse")
	eq(t, "boundary error", failed.Event.Definitions[0].ErrorRef, "Error_DisbursementFailed")
	eq(t, "boundary kind", failed.Event.Definitions[0].Kind, bpmn.EventError)

	eq(t, "payout assignee", p.node(t, "Task_ManualPayout").Zeebe.Assignment.Assignee, "=loanOfficer")
	rejection := p.node(t, "Task_SendRejection")
	eq(t, "rejection type", rejection.Zeebe.TaskDefinition.Type, "send-rejection-letter")
	eq(t, "rejection retries", rejection.Zeebe.TaskDefinition.Retries, "")
}

// TestCRLF parses a modeler file saved with Windows line endings: lines and values must be
// the same as with Unix ones.
func TestCRLF(t *testing.T) {
	t.Parallel()
	p := parseFile(t, "invoice-approval.bpmn")
	crlf := bytes.ReplaceAll(p.src, []byte("\n"), []byte("\r\n"))
	defs, err := bpmn.ParseBytes(crlf, bpmn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(defs, p.defs) {
		t.Error("CRLF file parses differently from the LF one")
	}
}
