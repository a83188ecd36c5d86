package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
)

// An order: a Go handler checks the stock, a person approves.
const orderXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="orders" targetNamespace="http://example.com">
  <bpmn:process id="order" isExecutable="true">
    <bpmn:startEvent id="received"/>
    <bpmn:sequenceFlow id="f1" sourceRef="received" targetRef="checkStock"/>
    <bpmn:serviceTask id="checkStock" camunda:type="external" camunda:topic="check-stock"/>
    <bpmn:sequenceFlow id="f2" sourceRef="checkStock" targetRef="approve"/>
    <bpmn:userTask id="approve" name="Approve order" camunda:assignee="ann"/>
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="shipped"/>
    <bpmn:endEvent id="shipped"/>
  </bpmn:process>
</bpmn:definitions>`

// openExample opens an engine on SQLite in a temporary directory, with a
// tenant "acme", and returns a context in that tenant.
func openExample(dir string) (*engine.Engine, *datasource.Sources, context.Context) {
	ctx := context.Background()
	e, src, err := engine.Open(ctx, datasource.Config{DataDir: dir}, engine.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := src.Lifecycle.Create(ctx, &datasource.CreateTenantParams{ID: "acme"}); err != nil {
		log.Fatal(err)
	}
	return e, src, engine.WithTenant(ctx, "acme")
}

// A whole process in a Go program: open an engine on SQLite, create a
// tenant, serve a service task with a Go handler, deploy, start, complete
// the user task, and read the history.
func Example() {
	dir, _ := os.MkdirTemp("", "tenantflow-example")
	defer os.RemoveAll(dir)
	e, src, err := engine.Open(context.Background(), datasource.Config{DataDir: dir}, engine.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: "acme"}); err != nil {
		log.Fatal(err)
	}
	ctx := engine.WithTenant(context.Background(), "acme") // every call works in its context's tenant
	e.RegisterHandler("check-stock", func(ctx context.Context, t *engine.ServiceTask) error {
		item, _ := t.Variable("item")
		t.Set("inStock", item == "book")
		return nil
	})
	if _, err := e.DeployXML(ctx, "order.bpmn", orderXML); err != nil {
		log.Fatal(err)
	}
	inst, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "order", Variables: engine.Vars{"item": "book"}})
	if err != nil {
		log.Fatal(err)
	}
	tasks, _ := e.Tasks(ctx, &engine.TaskQuery{InstanceID: inst.ID})
	fmt.Printf("%s waits for %s: %q\n", inst.State, tasks[0].Assignee, tasks[0].Name)
	vars, err := e.CompleteTask(ctx, tasks[0].Ref(), &engine.CompleteTaskParams{Variables: engine.Vars{"approved": true}, ReturnVariables: true})
	done, _ := e.Instance(ctx, inst.Ref())
	fmt.Println(err, done.State, "at", done.EndActivityID, "inStock:", vars["inStock"].V)
	steps, _ := e.Activities(ctx, &engine.ActivityQuery{InstanceID: inst.ID}) // the history
	for _, s := range steps {
		fmt.Println(" ", s.ElementType, s.ElementID)
	}
	// Output:
	// active waits for ann: "Approve order"
	// <nil> completed at shipped inStock: true
	//   startEvent received
	//   serviceTask checkStock
	//   userTask approve
	//   endEvent shipped
}

const paymentXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="payments" targetNamespace="http://example.com">
  <bpmn:message id="paid" name="payment-received"/>
  <bpmn:process id="invoice" isExecutable="true">
    <bpmn:startEvent id="issued"/>
    <bpmn:sequenceFlow id="f1" sourceRef="issued" targetRef="awaitPayment"/>
    <bpmn:intermediateCatchEvent id="awaitPayment"><bpmn:messageEventDefinition messageRef="paid"/></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="awaitPayment" targetRef="settled"/>
    <bpmn:endEvent id="settled"/>
  </bpmn:process>
</bpmn:definitions>`

// Message correlation: an instance waits at a message catch event until a
// message with its business key arrives.
func ExampleEngine_CorrelateMessage() {
	dir, _ := os.MkdirTemp("", "tenantflow-example")
	defer os.RemoveAll(dir)
	e, src, ctx := openExample(dir)
	defer src.Close()
	if _, err := e.DeployXML(ctx, "invoice.bpmn", paymentXML); err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{"INV-1", "INV-2"} {
		if _, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "invoice", BusinessKey: key}); err != nil {
			log.Fatal(err)
		}
	}
	res, err := e.CorrelateMessage(ctx, &engine.CorrelateParams{MessageName: "payment-received",
		BusinessKey: "INV-2", Variables: engine.Vars{"amount": 99.5}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res[0].Type, "at", res[0].ElementID, "of", res[0].Instance.BusinessKey)

	for _, key := range []string{"INV-1", "INV-2"} {
		l, _ := e.Instances(ctx, &engine.InstanceQuery{BusinessKey: key, AnyState: true})
		fmt.Println(key, l[0].State)
	}
	// Without a waiting instance the message is a clear error.
	_, err = e.CorrelateMessage(ctx, &engine.CorrelateParams{MessageName: "payment-received", BusinessKey: "INV-2"})
	fmt.Println(errors.Is(err, engine.ErrNoCorrelation))
	// Output:
	// Execution at awaitPayment of INV-2
	// INV-1 active
	// INV-2 completed
	// true
}

const reminderXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="reminders" targetNamespace="http://example.com">
  <bpmn:process id="reminder" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="remind"/>
    <bpmn:serviceTask id="remind" camunda:type="external" camunda:topic="remind" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"/>
    <bpmn:sequenceFlow id="f3" sourceRef="remind" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

// Timers are jobs in the tenant's storage. The job executor (package
// jobexec) runs them in a server; RunDueJobs runs those due at a chosen
// time, so a program or a test can move time on without waiting.
func ExampleEngine_RunDueJobs() {
	dir, _ := os.MkdirTemp("", "tenantflow-example")
	defer os.RemoveAll(dir)
	e, src, ctx := openExample(dir)
	defer src.Close()
	e.RegisterHandler("remind", func(_ context.Context, t *engine.ServiceTask) error {
		fmt.Println("reminding", t.BusinessKey)
		return nil
	})
	if _, err := e.DeployXML(ctx, "reminder.bpmn", reminderXML); err != nil {
		log.Fatal(err)
	}
	inst, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "reminder", BusinessKey: "ann"})
	if err != nil {
		log.Fatal(err)
	}
	jobs, _ := e.Jobs(ctx, &engine.JobQuery{InstanceID: inst.ID})
	fmt.Println(jobs[0].Kind, "due in", jobs[0].DueAt.Sub(inst.StartedAt))

	ran, _ := e.RunDueJobs(ctx, inst.StartedAt.Add(59*time.Minute))
	fmt.Println("after 59 minutes:", ran, "jobs ran")
	ran, _ = e.RunDueJobs(ctx, inst.StartedAt.Add(time.Hour))
	fmt.Println("after an hour:", ran, "job ran")
	done, _ := e.Instance(ctx, inst.Ref())
	fmt.Println(done.State)
	// Output:
	// timer due in 1h0m0s
	// after 59 minutes: 0 jobs ran
	// reminding ann
	// after an hour: 1 job ran
	// completed
}

const shippingXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="shipping" targetNamespace="http://example.com">
  <bpmn:process id="shipping" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ship"/>
    <bpmn:serviceTask id="ship" camunda:type="external" camunda:topic="ship"/>
    <bpmn:sequenceFlow id="f2" sourceRef="ship" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

// A service task whose topic has no Go handler is an external task: a
// worker (in this program, another one, or over REST) fetches and locks it,
// does the work, and completes it.
func ExampleEngine_FetchAndLock() {
	dir, _ := os.MkdirTemp("", "tenantflow-example")
	defer os.RemoveAll(dir)
	e, src, ctx := openExample(dir)
	defer src.Close()
	if _, err := e.DeployXML(ctx, "shipping.bpmn", shippingXML); err != nil {
		log.Fatal(err)
	}
	inst, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "shipping", Variables: engine.Vars{"parcel": "P-7"}})
	if err != nil {
		log.Fatal(err)
	}
	tasks, err := e.FetchAndLock(ctx, &engine.FetchAndLockParams{WorkerID: "worker-1", MaxTasks: 10,
		Topics: []engine.TopicRequest{{Name: "ship", LockDuration: time.Minute, Variables: []string{"parcel"}}}})
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range tasks {
		fmt.Println("worker-1 ships", t.Variables["parcel"].V, "for", t.ElementID)
		if err := e.CompleteExternalTask(ctx, t.Ref(), &engine.CompleteExternalTaskParams{WorkerID: "worker-1",
			Variables: engine.Vars{"tracking": "TRK-1"}}); err != nil {
			log.Fatal(err)
		}
	}
	done, _ := e.Instance(ctx, inst.Ref())
	vars, _ := e.Variables(ctx, inst.Ref())
	fmt.Println(done.State, vars["tracking"].V)
	// Output:
	// worker-1 ships P-7 for ship
	// completed TRK-1
}
