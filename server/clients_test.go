package server

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	camunda "github.com/citilinkru/camunda-client-go/v3"

	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// TestGoCamundaClientWorksUnchanged drives the server with the Go Camunda
// client (github.com/citilinkru/camunda-client-go/v3), unchanged: deploy,
// list deployments, start by key, fetch and lock, complete, correlate a
// message, read history.
func TestGoCamundaClientWorksUnchanged(t *testing.T) {
	a := newAPI(t, dstest.Postgres, "acme")
	c := camunda.NewClient(camunda.ClientOptions{EndpointUrl: a.http.URL + "/engine-rest", ApiUser: "admin_acme", ApiPassword: password})
	bpmn, err := os.ReadFile("testdata/payment.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	dep, err := c.Deployment.Create(camunda.ReqDeploymentCreate{DeploymentName: "payments",
		Resources: map[string]interface{}{"payment.bpmn": bytes.NewReader(bpmn)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dep.DeployedProcessDefinitions) != 1 {
		t.Fatalf("deployed %+v", dep)
	}
	deps, err := c.Deployment.GetList(nil)
	if err != nil || len(deps) != 1 || deps[0].Name != "payments" {
		t.Fatalf("deployments %+v %v", deps, err)
	}
	key, bk := "payment", "order-42"
	started, err := c.ProcessDefinition.StartInstance(camunda.QueryProcessDefinitionBy{Key: &key}, camunda.ReqStartInstance{BusinessKey: &bk,
		Variables: &map[string]camunda.Variable{"amount": {Value: 125.5, Type: "Double"}, "currency": {Value: "EUR", Type: "String"}}})
	if err != nil {
		t.Fatal(err)
	}
	wait := 1000
	tasks, err := c.ExternalTask.FetchAndLock(camunda.QueryFetchAndLock{WorkerId: "go-worker", MaxTasks: 5, AsyncResponseTimeout: &wait,
		Topics: []*camunda.QueryFetchAndLockTopic{{TopicName: "charge", LockDuration: 30000}}})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("fetched %+v %v", tasks, err)
	}
	// The Go client parses dates only in this layout.
	const layout = "2006-01-02T15:04:05.000-0700"
	if _, err := time.Parse(layout, tasks[0].LockExpirationTime); err != nil || tasks[0].Variables["amount"].Value != 125.5 || tasks[0].BusinessKey != bk {
		t.Fatalf("task %+v", tasks[0])
	}
	worker := "go-worker"
	if err := c.ExternalTask.Complete(tasks[0].Id, camunda.QueryComplete{WorkerId: &worker,
		Variables: &map[string]camunda.Variable{"charged": {Value: true, Type: "Boolean"}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Message.SendMessage(&camunda.ReqMessage{MessageName: "paid", BusinessKey: bk}); err != nil {
		t.Fatal(err)
	}
	hist, err := c.History.GetProcessInstance(started.Id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(layout, hist.EndTime); err != nil || hist.State != "COMPLETED" || hist.BusinessKey != bk {
		t.Fatalf("history %+v", hist)
	}
	list, err := c.History.GetProcessInstanceList(map[string]string{"processDefinitionKey": key, "finished": "true"})
	if err != nil || len(list) != 1 {
		t.Fatalf("history list %+v %v", list, err)
	}
}

// needTool finds a command, or skips the test — failing instead under
// CI=true, where every test must run.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed: %s", name, install)
		}
		t.Skipf("%s not found (%s)", name, install)
	}
	return p
}

// TestJSExternalTaskClientWorksUnchanged runs a worker written against the
// npm package camunda-external-task-client-js 3.x: it long-polls, extends a
// lock, completes with typed variables and reports a BPMN error.
func TestJSExternalTaskClientWorksUnchanged(t *testing.T) {
	node := needTool(t, "node", "apt-get install nodejs")
	npm := needTool(t, "npm", "apt-get install npm")
	dir := filepath.Join("testdata", "jsclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "camunda-external-task-client-js")); err != nil {
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--silent")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	a := newAPI(t, dstest.SQLite, "acme")
	if r := a.deployFile("admin_acme", filepath.Join("testdata", "payment.bpmn")); r.status != 200 {
		t.Fatalf("deploy: %d %s", r.status, r.body)
	}
	var out bytes.Buffer
	worker := exec.Command(node, "worker.js", a.http.URL+"/engine-rest", "user_acme", password, "2")
	worker.Dir = dir
	worker.Stdout, worker.Stderr = &out, &out
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- worker.Wait() }()
	t.Cleanup(func() { _ = worker.Process.Kill() })

	// The worker waits in a long poll; a task created now is delivered to
	// that waiting request.
	a.waitForPoller("js-worker")
	start := func(bk string, amount float64) string {
		var inst map[string]any
		a.do("POST", "/engine-rest/process-definition/key/payment/start", "user_acme", map[string]any{"businessKey": bk,
			"variables": map[string]any{"amount": map[string]any{"value": amount, "type": "Double"}}}).json(t, &inst)
		return inst["id"].(string)
	}
	small := start("small", 50)
	large := start("large", 5000)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("worker did not finish:\n%s", out.String())
	}
	// The small payment was charged and now waits for the message, with the
	// worker's typed variables.
	var vars map[string]variable
	a.do("GET", "/engine-rest/process-instance/"+small+"/variables", "reader_acme", nil).json(t, &vars)
	if vars["charged"].Value != true || vars["receipt"].Value != "R-small" || vars["chargedAt"].Type != "Date" {
		t.Fatalf("variables after completion: %+v", vars)
	}
	// The large one was declined through the BPMN error boundary.
	var hist map[string]any
	a.do("GET", "/engine-rest/history/process-instance/"+large, "reader_acme", nil).json(t, &hist)
	if hist["state"] != "COMPLETED" {
		t.Fatalf("declined instance: %+v", hist)
	}
	var acts []map[string]any
	a.do("GET", "/engine-rest/history/activity-instance?processInstanceId="+large+"&activityId=failed", "reader_acme", nil).json(t, &acts)
	if len(acts) != 1 {
		t.Fatalf("the declined payment did not end at the error path: %+v", acts)
	}
}
