package engine_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/engine/model"
)

// problem is a deployment problem a test expects: the element, the text
// that marks its line in the file, and words of the message.
type problem struct {
	element string
	marker  string
	words   []string
}

// lineOf returns the line of the first occurrence of marker in a testdata
// file.
func lineOf(t *testing.T, file, marker string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), marker) {
			return n
		}
	}
	t.Fatalf("%s has no line with %q", file, marker)
	return 0
}

// wantProblems deploys a file and checks that deployment fails with exactly
// the expected problems, each with its element and line, and stores
// nothing.
func (s *sc) wantProblems(file string, want ...problem) {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		s.t.Fatal(err)
	}
	_, err = s.Deploy(s.ctx, &engine.DeployParams{Resources: []engine.Resource{{Name: file, Content: b}}})
	var me *model.Error
	if !errors.As(err, &me) || !errors.Is(err, model.ErrInvalidModel) {
		s.t.Fatalf("deploying %s: %v, want a *model.Error", file, err)
	}
	if len(me.Problems) != len(want) {
		s.t.Fatalf("deploying %s: %d problems, want %d:\n%v", file, len(me.Problems), len(want), err)
	}
	for _, w := range want {
		line := lineOf(s.t, file, w.marker)
		found := false
		for _, p := range me.Problems {
			if p.ElementID == w.element && p.Line == line && p.Resource == filepath.Base(file) && contains(p.Message, w.words...) {
				found = true
			}
		}
		if !found {
			s.t.Fatalf("deploying %s: no problem for %q at line %d mentioning %q:\n%v", file, w.element, line, w.words, err)
		}
	}
	if n, err := s.CountDefinitions(s.ctx, nil); err != nil || n != 0 {
		s.t.Fatalf("a failed deployment stored %d definitions (%v)", n, err)
	}
}

// TestDeploymentErrors checks that a deployment reports every problem of a
// model, each with its element and line.
func TestDeploymentErrors(t *testing.T) {
	runScenarios(t, []scenario{
		{"an unsupported element, a broken condition and a dangling flow, all at once", func(s *sc) {
			s.wantProblems("invalid-three-problems.bpmn",
				problem{"complex", `id="complex"`, []string{"complexGateway", "not supported"}},
				problem{"brokenCondition", `${amount &gt;}`, []string{"condition", "${amount >}"}},
				problem{"dangling", `id="dangling"`, []string{"dangling", "nowhere"}},
			)
		}},
		{"duplicate ids", func(s *sc) {
			s.wantProblems("invalid-duplicate-ids.bpmn",
				problem{"task", `<bpmn:userTask id="task"/>`, []string{"duplicate id", "first used at line 7"}})
		}},
		{"a gateway without outgoing flows", func(s *sc) {
			s.wantProblems("invalid-gateway-no-outgoing.bpmn",
				problem{"deadEnd", `id="deadEnd"`, []string{"no outgoing sequence flow"}})
		}},
		{"no start event", func(s *sc) {
			s.wantProblems("invalid-no-start.bpmn",
				problem{"invalid_no_start", `<bpmn:process`, []string{"no start event"}},
				problem{"task", `id="task"`, []string{"no incoming sequence flow"}})
		}},
		{"an unparsable timer", func(s *sc) {
			s.wantProblems("invalid-timer.bpmn",
				problem{"wait", `<bpmn:timerEventDefinition>`, []string{"5 minutes", "ISO 8601"}})
		}},
		{"a Camunda 8 model with a FEEL function is refused with a clear message", func(s *sc) {
			s.wantProblems("modeler/loan-application-c8.bpmn",
				problem{"Task_VerifyDocument", `id="Task_VerifyDocument"`, []string{"zeebe:taskSchedule dueDate", "FEEL", "now()", "not supported", "JUEL"}})
		}},
		{"a resource identical to the latest version creates no new version", func(s *sc) {
			s.deploy("start-none.bpmn")
			b, _ := os.ReadFile(filepath.Join("testdata", "start-none.bpmn"))
			d, err := s.Deploy(s.ctx, &engine.DeployParams{ChangedOnly: true, Resources: []engine.Resource{{Name: "start-none.bpmn", Content: b}}})
			if err != nil || len(d.Definitions) != 0 {
				s.t.Fatalf("%+v %v", d, err)
			}
			defs, _ := s.Definitions(s.ctx, &engine.DefinitionQuery{Key: "start_none"})
			if len(defs) != 1 {
				s.t.Fatalf("%d versions", len(defs))
			}
		}},
	})
}

// TestModelerFiles deploys Camunda 7 models as Camunda Modeler writes them
// (diagrams, documentation, lanes, a two-pool collaboration) and runs them.
func TestModelerFiles(t *testing.T) {
	runScenarios(t, []scenario{
		{"the Camunda 7 files deploy", func(s *sc) {
			d := s.deploy("modeler/order-fulfilment.bpmn", "modeler/invoice-approval.bpmn", "modeler/customer-supplier.bpmn")
			var keys []string
			for _, def := range d.Definitions {
				keys = append(keys, def.Key)
			}
			want := "customer_procurement,invoice_approval,order_fulfilment,supplier_quotation"
			if got := strings.Join(sortStrings(keys), ","); got != want {
				s.t.Fatalf("definitions %s, want %s", got, want)
			}
			for _, def := range d.Definitions {
				if def.Key == "order_fulfilment" && (def.VersionTag != "1.2" || def.HistoryTimeToLive != 30*24*time.Hour || def.Name != "Order fulfilment") {
					s.t.Fatalf("order_fulfilment: %+v", def)
				}
			}
		}},

		{"order fulfilment: a standard order through the async reservation", func(s *sc) {
			s.deploy("modeler/order-fulfilment.bpmn")
			due := epoch.Add(72 * time.Hour)
			inst, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "order_fulfilment", BusinessKey: "O-1", StartUser: "ann",
				Variables: map[string]any{"amount": 500, "orderId": "O-1", "orderDueDate": due}})
			if err != nil {
				s.t.Fatal(err)
			}
			check := s.task(inst, "Task_CheckOrder")
			if !check.Due.Equal(due) || check.Priority != 60 || check.FormKey != "camunda-forms:deployment:check-order.form" ||
				len(check.CandidateGroups) != 1 || check.CandidateGroups[0] != "sales" {
				s.t.Fatalf("check task %+v", check)
			}
			s.complete(inst, "Task_CheckOrder", nil)
			s.wantUnfinished(inst) // waits for the asyncBefore job of the reservation
			if n := s.advance(0); n != 1 {
				s.t.Fatalf("%d jobs ran", n)
			}
			reserve := s.fetchOne("reserve-stock", "worker")
			if reserve.ElementID != "Task_ReserveStock" || reserve.Priority != 10 || reserve.Variables["orderId"].V != "O-1" {
				s.t.Fatalf("reservation task %+v", reserve)
			}
			s.completeExternal(reserve, "worker", map[string]any{"reservation": "R-9"})
			s.completeExternal(s.fetchOne("ship-order", "worker"), "worker", nil)
			s.wantPath(inst, "StartEvent_OrderReceived", "Task_CheckOrder", "Gateway_Amount", "Gateway_Merge", "Task_ReserveStock",
				"Task_ShipOrder", "EndEvent_OrderShipped")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"starter": "ann", "reservationId": "R-9"})
		}},

		{"order fulfilment: a large order whose approval times out", func(s *sc) {
			s.deploy("modeler/order-fulfilment.bpmn")
			inst := s.start("order_fulfilment", map[string]any{"amount": 1500, "orderId": "O-2", "orderDueDate": epoch})
			s.complete(inst, "Task_CheckOrder", nil)
			approve := s.task(inst, "Task_ApproveLarge")
			if len(approve.CandidateUsers) != 1 || approve.CandidateUsers[0] != "cfo" {
				s.t.Fatalf("approval task %+v", approve)
			}
			s.advance(47 * time.Hour)
			s.wantUnfinished(inst, "Task_ApproveLarge")
			s.advance(time.Hour)
			s.completeExternal(s.fetchOne("notify-customer", "worker"), "worker", nil)
			s.wantPath(inst, "StartEvent_OrderReceived", "Task_CheckOrder", "Gateway_Amount", "Task_ApproveLarge",
				"BoundaryEvent_ApprovalTimeout", "Task_NotifyCustomer", "EndEvent_OrderCancelled")
			s.wantCanceled(inst, "Task_ApproveLarge")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"invoice approval: two approvers in turn", func(s *sc) {
			s.deploy("modeler/invoice-approval.bpmn")
			inst, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "invoice_approval", StartUser: "tom",
				Variables: map[string]any{"approvalDueDate": epoch.Add(24 * time.Hour), "approvalFollowUpDate": epoch.Add(12 * time.Hour)}})
			if err != nil {
				s.t.Fatal(err)
			}
			s.complete(inst, "Task_AssignApprover", map[string]any{"approvers": []string{"ann", "bob"}})
			for _, who := range []string{"ann", "bob"} {
				task := s.task(inst, "Task_ApproveInvoice")
				if task.Assignee != who || task.Priority != 60 {
					s.t.Fatalf("approval task %+v, want %s's", task, who)
				}
				s.complete(inst, "Task_ApproveInvoice", map[string]any{"approved": true})
			}
			s.complete(inst, "Task_PrepareTransfer", nil)
			s.completeExternal(s.fetchOne("archive-invoice", "worker"), "worker", nil)
			s.wantPath(inst, "StartEvent_InvoiceReceived", "Task_AssignApprover", "Task_ApproveInvoice#multiInstanceBody",
				"Task_ApproveInvoice", "Task_ApproveInvoice", "Gateway_Approved", "Task_PrepareTransfer", "Task_ArchiveInvoice",
				"EndEvent_InvoiceProcessed")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"the two-pool collaboration: customer and supplier exchange messages", func(s *sc) {
			s.deploy("modeler/customer-supplier.bpmn")
			customer := s.startBK("customer_procurement", "req-1", map[string]any{"item": "bolts"})
			// The customer's send task is done by a worker that starts the
			// supplier's process with a message.
			request := s.fetchOne("send-quote-request", "mailer")
			res := s.correlate(&engine.CorrelateParams{MessageName: "QuoteRequest", BusinessKey: "req-1", Variables: map[string]any{"item": "bolts"}})
			if len(res) != 1 || res[0].Type != "ProcessDefinition" {
				s.t.Fatalf("quote request %+v", res)
			}
			supplier := res[0].Instance
			s.completeExternal(request, "mailer", nil)
			s.wantUnfinished(customer, "Gateway_WaitForQuote")

			s.complete(supplier, "Task_PrepareQuote", map[string]any{"price": 99.5})
			quote := s.fetchOne("send-quote", "mailer")
			if quote.Variables["price"].V != 99.5 {
				s.t.Fatalf("send-quote task %+v", quote)
			}
			s.correlate(&engine.CorrelateParams{MessageName: "Quote", BusinessKey: "req-1", Variables: map[string]any{"quotedPrice": 99.5}})
			s.completeExternal(quote, "mailer", nil)
			s.wantPath(supplier, "StartEvent_RequestReceived", "Task_PrepareQuote", "SendTask_SendQuote", "EndEvent_QuoteSent")
			s.wantEnded(supplier, engine.InstanceCompleted)

			s.complete(customer, "Task_ReviewQuote", nil)
			s.wantPath(customer, "StartEvent_GoodsNeeded", "SendTask_RequestQuote", "Gateway_WaitForQuote", "CatchEvent_QuoteReceived",
				"Task_ReviewQuote", "EndEvent_QuoteReviewed")
			s.wantEnded(customer, engine.InstanceCompleted)
			s.wantVars(customer, map[string]any{"quotedPrice": 99.5})
			if n := s.advance(4 * 24 * time.Hour); n != 0 {
				s.t.Fatalf("the customer's timeout ran after the quote came (%d jobs)", n)
			}
		}},
	})
}

// fetchOne fetches and locks the one task of a topic.
func (s *sc) fetchOne(topic, worker string) *engine.ExternalTask {
	s.t.Helper()
	l, err := s.FetchAndLock(s.ctx, &engine.FetchAndLockParams{WorkerID: worker, MaxTasks: 10,
		Topics: []engine.TopicRequest{{Name: topic, LockDuration: time.Minute}}})
	if err != nil || len(l) != 1 {
		s.t.Fatalf("fetch %s: %+v %v, want one task", topic, l, err)
	}
	return l[0]
}

// completeExternal completes a fetched external task.
func (s *sc) completeExternal(task *engine.ExternalTask, worker string, vars map[string]any) {
	s.t.Helper()
	if err := s.CompleteExternalTask(s.ctx, task.Ref(), &engine.CompleteExternalTaskParams{WorkerID: worker, Variables: vars}); err != nil {
		s.t.Fatalf("complete external task %s: %v", task.ElementID, err)
	}
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}
