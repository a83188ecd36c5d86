package server

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tenantflow/tenantflow/engine"
)

// The engine sorts by the Go names of its entities' fields (engine.Page);
// clients send Camunda's sortBy values. This file is the one place that
// maps the ones for the other, per list.

// sortKeys maps the sortBy values one list accepts to engine field names.
type sortKeys struct {
	// fields are the values the list names when it refuses one.
	fields map[string]string
	// aliases are values accepted too, each standing for a key of fields:
	// Camunda names clients send for the same order.
	aliases map[string]string
}

// field returns the engine field for a sortBy value ("" for none), or an
// ErrInvalid error naming the values the list accepts.
func (k sortKeys) field(sortBy string) (string, error) {
	if sortBy == "" {
		return "", nil
	}
	if f, ok := k.fields[sortBy]; ok {
		return f, nil
	}
	if a, ok := k.aliases[sortBy]; ok {
		return k.fields[a], nil
	}
	names := make([]string, 0, len(k.fields))
	for n := range k.fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return "", fmt.Errorf("%w: cannot sort by %q: use one of %s", engine.ErrInvalid, sortBy, strings.Join(names, ", "))
}

var (
	deploymentSorts = sortKeys{fields: map[string]string{"id": "ID", "name": "Name", "deploymentTime": "CreatedAt"}}

	definitionSorts = sortKeys{
		fields: map[string]string{"id": "ID", "key": "Key", "name": "Name", "version": "Version",
			"deploymentId": "DeploymentID", "deployTime": "CreatedAt"},
		aliases: map[string]string{"category": "key", "tenantId": "id"},
	}

	instanceSorts = sortKeys{fields: map[string]string{"instanceId": "ID", "definitionKey": "DefinitionKey",
		"definitionId": "DefinitionID", "businessKey": "BusinessKey", "startTime": "StartedAt", "endTime": "EndedAt"}}

	historyInstanceSorts = instanceSorts

	taskSorts = sortKeys{fields: map[string]string{"id": "ID", "name": "Name", "priority": "Priority", "assignee": "Assignee",
		"created": "CreatedAt", "dueDate": "Due", "followUpDate": "FollowUp", "instanceId": "InstanceID",
		"processInstanceId": "InstanceID", "taskDefinitionKey": "ElementID"}}

	historyTaskSorts = sortKeys{fields: taskSorts.fields, aliases: map[string]string{"startTime": "created", "taskId": "id"}}

	externalTaskSorts = sortKeys{fields: map[string]string{"id": "ID", "lockExpirationTime": "LockExpiresAt",
		"processInstanceId": "InstanceID", "processDefinitionKey": "DefinitionKey", "taskPriority": "Priority",
		"createTime": "CreatedAt"}}

	jobSorts = sortKeys{fields: map[string]string{"jobId": "ID", "jobDueDate": "DueAt", "jobRetries": "Retries",
		"jobPriority": "Priority", "processInstanceId": "InstanceID"}}

	incidentSorts = sortKeys{fields: map[string]string{"incidentId": "ID", "incidentTimestamp": "CreatedAt",
		"incidentType": "Type", "activityId": "ElementID", "processInstanceId": "InstanceID"}}

	historyActivitySorts = sortKeys{fields: map[string]string{"activityInstanceId": "ID", "startTime": "StartedAt",
		"endTime": "EndedAt", "activityId": "ElementID", "activityType": "ElementType"}}
)
