// A worker written against the Camunda external task client, unchanged.
// It long-polls for "charge" tasks, extends a lock, completes with typed
// variables, and reports a BPMN error for large amounts. It exits 0 after
// handling `expect` tasks, 1 on any error.
const { Client, BasicAuthInterceptor, Variables } = require("camunda-external-task-client-js");

const [baseUrl, username, password, expect] = process.argv.slice(2);
const client = new Client({
  baseUrl,
  workerId: "js-worker",
  maxTasks: 1,
  lockDuration: 5000,
  asyncResponseTimeout: 20000,
  interval: 50,
  interceptors: new BasicAuthInterceptor({ username, password }),
});
for (const ev of ["poll:error", "complete:error", "handleBpmnError:error", "extendLock:error"]) {
  client.on(ev, (...args) => {
    const e = args[args.length - 1];
    console.error(ev, e && (e.message || e));
    process.exit(1);
  });
}

let handled = 0;
client.subscribe("charge", async ({ task, taskService }) => {
  try {
    const amount = task.variables.get("amount");
    if (amount > 1000) {
      await taskService.handleBpmnError(task, "CARD_DECLINED", "amount over the card limit", new Variables().set("declinedAmount", amount));
    } else {
      await taskService.extendLock(task, 30000);
      const vars = new Variables();
      vars.set("charged", true);
      vars.setTyped("receipt", { value: "R-" + task.businessKey, type: "String", valueInfo: {} });
      vars.setTyped("chargedAt", { value: new Date("2026-01-02T03:04:05Z"), type: "Date", valueInfo: {} });
      await taskService.complete(task, vars);
    }
    handled++;
    console.log("handled", task.businessKey);
    if (handled >= Number(expect)) {
      client.stop();
      process.exit(0);
    }
  } catch (e) {
    console.error("handler failed:", e && (e.message || e));
    process.exit(1);
  }
});
