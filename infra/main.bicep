// The SCIM service in one resource group: a Flex Consumption Function App (Python 3.13) reaching its storage account
// with a user-assigned managed identity only (shared keys disabled), Application Insights on a Log Analytics
// workspace, a Key Vault for the mail secrets, and the alert rules of docs/operations.md.
// Deployed by `azd up` (azure.yaml) or `az deployment group create` (docs/deploy.md).

targetScope = 'resourceGroup'

@description('Short name for this deployment; resource names derive from it.')
@minLength(3)
@maxLength(16)
param environmentName string

@description('Azure region.')
param location string = resourceGroup().location

@description('Where alert notifications go (the operators).')
param alertEmail string

@description('Object id of the operator (user or group) who runs manage.py against the deployed storage; empty: none.')
param operatorPrincipalId string = ''

@description('Failure digests for accounts without their own notification email; empty: none.')
param notifyDefaultEmail string = ''

@description('Sender address of the failure digests.')
param notifyFrom string = 'scim-provisioning@localhost'

@description('SMTP relay for the digests; empty: Azure Communication Services (if its secret is set) or none.')
param smtpHost string = ''

@description('SMTP port.')
param smtpPort string = '587'

@description('SMTP user name.')
param smtpUser string = ''

@description('SMTP security: none, starttls or tls.')
@allowed(['none', 'starttls', 'tls'])
param smtpSecurity string = 'starttls'

@description('Prefix of the app\'s table names.')
param tablePrefix string = 'scim'

@secure()
@description('SMTP password, stored in Key Vault and referenced from the app settings; empty: none.')
param smtpPassword string = ''

@secure()
@description('Azure Communication Services Email connection string, stored in Key Vault; empty: none.')
param acsConnectionString string = ''

@minValue(0)
@maxValue(10)
@description('Always-ready instances for the HTTP functions: a first request after idle answers without a cold start (docs/deploy.md, "At size": what one costs a month). 0: none.')
param alwaysReadyHttpInstances int = 1

@minValue(1)
@maxValue(1000)
@description('Instances the app may scale out to (docs/deploy.md, "At size").')
param maximumInstances int = 40

@minValue(1)
@maxValue(1000)
@description('HTTP requests one instance serves at once (Python\'s default on Flex Consumption is 1; docs/deploy.md, "At size").')
param httpConcurrency int = 16

var suffix = uniqueString(resourceGroup().id, environmentName)
var tags = { 'azd-env-name': environmentName }
var appName = 'func-${environmentName}-${suffix}'
var storageName = toLower('st${take(replace(environmentName, '-', ''), 8)}${suffix}')
var deploymentContainer = 'deploymentpackage'

// Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles)
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // the host: its leases, timer status, deployment package
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // scim-retry, scim-retry-poison, host queues
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // <prefix>accounts, resources, activity, access
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault references in app settings
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${environmentName}-${suffix}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  tags: tags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
}

var identityRoles = [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in identityRoles: {
  name: guid(storage.id, identity.id, role)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource operatorTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(storage.id, operatorPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: operatorPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

resource operatorQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(storage.id, operatorPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    principalId: operatorPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${environmentName}-${suffix}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${environmentName}-${suffix}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-${take(environmentName, 8)}-${suffix}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
  }
}

// Secrets live in Key Vault; the app settings hold Key Vault references, resolved with the app's identity.
resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(smtpPassword)) {
  parent: vault
  name: 'smtp-password'
  properties: { value: smtpPassword }
}

resource acsConnectionSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(acsConnectionString)) {
  parent: vault
  name: 'acs-connection-string'
  properties: { value: acsConnectionString }
}

resource vaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${environmentName}-${suffix}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

// Every setting the app reads (local.settings.sample.json documents each), with its default; tests/test_infra.py
// checks that none is missing. FUNCTIONS_WORKER_RUNTIME is functionAppConfig.runtime on Flex Consumption, and
// AzureWebJobsStorage is identity-based here.
var appSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  TABLE_PREFIX: tablePrefix
  SCIM_MAX_BODY_BYTES: '1048576'
  AUTH_CACHE_SECONDS: '30'
  SCIM_PAGE_SIZE_DEFAULT: '100'
  SCIM_PAGE_SIZE_MAX: '1000'
  RECONCILE_SCHEDULE: '0 */30 * * * *'
  RECONCILE_STALE_MINUTES: '10'
  RECONCILE_SWEEP_HOURS: '0'
  RETENTION_DAYS: '30'
  NOTIFY_DEFAULT_EMAIL: notifyDefaultEmail
  NOTIFY_FROM: notifyFrom
  NOTIFY_WINDOW_MINUTES: '15'
  NOTIFY_SMTP_HOST: smtpHost
  NOTIFY_SMTP_PORT: smtpPort
  NOTIFY_SMTP_USER: smtpUser
  NOTIFY_SMTP_PASSWORD: empty(smtpPassword) ? '' : '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=smtp-password)'
  NOTIFY_SMTP_SECURITY: smtpSecurity
  NOTIFY_ACS_CONNECTION_STRING: empty(acsConnectionString) ? '' : '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=acs-connection-string)'
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  OTEL_TRACES_SAMPLER: 'microsoft.fixed_percentage'
  OTEL_TRACES_SAMPLER_ARG: '1.0'
  TELEMETRY_VERBOSE: 'false'
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'scim' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      healthCheckPath: '/api/health'
      appSettings: [for setting in items(appSettings): { name: setting.key, value: setting.value }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      // The newest Python GA on Flex Consumption (docs/deploy.md cites it); requirements.txt pins its worker library.
      runtime: { name: 'python', version: '3.13' }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstances
        instanceMemoryMB: 2048
        alwaysReady: alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []
        triggers: { http: { perInstanceConcurrency: httpConcurrency } }
      }
    }
  }
  dependsOn: [storageRoles, vaultRole, packages, smtpPasswordSecret, acsConnectionSecret]
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${environmentName}-${suffix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take('scim${environmentName}', 12)
    enabled: true
    emailReceivers: [{ name: 'operators', emailAddress: alertEmail, useCommonAlertSchema: true }]
  }
}

// docs/operations.md, "Recommended alerts": each row is one rule (tests/test_infra.py checks the names match).
var records = 'traces | extend account = tostring(customDimensions["scim.account_id"]), status = toint(customDimensions["scim.status"]), outcome = tostring(customDimensions["scim.outcome"]), operation = tostring(customDimensions["scim.operation"])'
var alerts = [
  {
    name: 'credential-failures'
    severity: 1
    window: 'PT15M'
    query: '${records} | where status == 401 | summarize failures = count() by account | where failures >= 5'
  }
  {
    name: 'failure-ratio'
    severity: 2
    window: 'PT1H'
    query: '${records} | where isnotempty(account) and isnotempty(outcome) | summarize total = count(), failed = countif(outcome == "failure") by account | where total >= 20 and failed * 10 > total'
  }
  {
    name: 'failure-volume'
    severity: 2
    window: 'PT1H'
    query: '${records} | where outcome == "failure" | summarize failures = count() by account | where failures > 1000'
  }
  {
    name: 'server-errors'
    severity: 1
    window: 'PT15M'
    query: '${records} | where status >= 500 | summarize other = countif(status != 503), first = min(timestamp), last = max(timestamp) by account | where other > 0 or last - first > 5m'
  }
  {
    name: 'given-up-work'
    severity: 1
    window: 'PT15M'
    query: 'customMetrics | where name in ("scim.operations.poisoned", "scim.queue.poison_depth") and valueMax > 0'
  }
  {
    name: 'latency'
    severity: 2
    window: 'PT15M'
    query: '${records} | where isnotempty(account) | summarize p95 = percentile(todouble(customDimensions["scim.duration_ms"]), 95) | where p95 > 10000'
  }
  {
    name: 'reconcile'
    severity: 2
    window: 'PT2H'
    query: 'traces | where tostring(customDimensions["scim.operation"]) == "reconcile" | summarize runs = count(), unrepairable = sum(toint(customDimensions["scim.reconcile.unrepairable"])) | where runs == 0 or unrepairable > 0'
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for alert in alerts: {
  name: 'alert-${alert.name}-${suffix}'
  location: location
  tags: tags
  properties: {
    displayName: 'SCIM ${alert.name}'
    severity: alert.severity
    enabled: true
    scopes: [appInsights.id]
    evaluationFrequency: 'PT5M'
    windowSize: alert.window
    criteria: {
      allOf: [
        {
          query: alert.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [actionGroup.id] }
  }
}]

resource healthAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-health-${suffix}'
  location: 'global'
  tags: tags
  properties: {
    description: 'The Function App health check on /api/health fails (storage or queues unreachable).'
    severity: 1
    enabled: true
    scopes: [app.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'health'
          criterionType: 'StaticThresholdCriterion'
          metricName: 'HealthCheckStatus'
          operator: 'LessThan'
          threshold: 100
          timeAggregation: 'Average'
        }
      ]
    }
    actions: [{ actionGroupId: actionGroup.id }]
  }
}

output AZURE_FUNCTION_APP_NAME string = app.name
output TENANT_URL_TEMPLATE string = 'https://${app.properties.defaultHostName}/api/scim/account/<accountId>'
output STORAGE_ACCOUNT_NAME string = storage.name
output APPLICATIONINSIGHTS_NAME string = appInsights.name
output KEY_VAULT_NAME string = vault.name
