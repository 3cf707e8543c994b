/// The field names of each Kubernetes object level podwire reads, split into the ones it
/// models and the other *valid* ones it accepts and drops, so that real manifests (with
/// resources, probes, env, volumes, …) load unchanged while a misspelt name is still caught.
/// Lists follow the Kubernetes API reference (core/v1 and apps/v1, up to 1.34).
/// Service fields that only matter for types or features podwire does not model (load
/// balancers, external IPs, dual stack) are read so that they can be refused clearly.

extension FieldSchema {
    /// Any top-level object: `apiVersion`, `kind`, `metadata`, `spec` (and `status`).
    static func object(_ kind: String) -> FieldSchema {
        FieldSchema(what: "a Kubernetes \(kind)", modelled: ["apiVersion", "kind", "metadata", "spec"],
                    ignored: ["status"], explain: kind.lowercased())
    }

    /// ObjectMeta.
    static func objectMeta(explain: String) -> FieldSchema {
        FieldSchema(what: "Kubernetes object metadata", modelled: ["name", "namespace", "labels"],
                    ignored: ["annotations", "generateName", "uid", "resourceVersion", "generation",
                              "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                              "ownerReferences", "finalizers", "managedFields", "selfLink"],
                    explain: explain)
    }

    /// PodSpec (a Pod's `spec`, a Deployment's `spec.template.spec`).
    static func podSpec(explain: String) -> FieldSchema {
        FieldSchema(what: "a Kubernetes PodSpec", modelled: ["containers", "nodeName", "nodeSelector", "hostNetwork"],
                    ignored: ["initContainers", "ephemeralContainers", "volumes", "restartPolicy",
                              "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "dnsConfig",
                              "serviceAccountName", "serviceAccount", "automountServiceAccountToken",
                              "hostPID", "hostIPC", "hostUsers", "shareProcessNamespace",
                              "securityContext", "imagePullSecrets", "hostname", "hostnameOverride", "subdomain",
                              "setHostnameAsFQDN", "affinity", "schedulerName", "tolerations", "hostAliases",
                              "priorityClassName", "priority", "preemptionPolicy", "readinessGates",
                              "runtimeClassName", "enableServiceLinks", "overhead", "topologySpreadConstraints",
                              "os", "schedulingGates", "resourceClaims", "resources"],
                    explain: explain)
    }

    /// Container.
    static func container(explain: String) -> FieldSchema {
        FieldSchema(what: "a Kubernetes container", modelled: ["name", "image", "ports"],
                    ignored: ["command", "args", "workingDir", "env", "envFrom", "resources", "resizePolicy",
                              "restartPolicy", "restartPolicyRules", "volumeMounts", "volumeDevices",
                              "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
                              "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy",
                              "securityContext", "stdin", "stdinOnce", "tty"],
                    explain: explain)
    }

    /// ContainerPort.
    static func containerPort(explain: String) -> FieldSchema {
        FieldSchema(what: "a Kubernetes container port", modelled: ["name", "containerPort", "protocol", "hostPort"],
                    ignored: ["hostIP"], explain: explain)
    }

    /// DeploymentSpec.
    static let deploymentSpec = FieldSchema(
        what: "a Kubernetes DeploymentSpec", modelled: ["replicas", "selector", "template"],
        ignored: ["strategy", "minReadySeconds", "revisionHistoryLimit", "paused", "progressDeadlineSeconds"],
        explain: "deployment.spec")

    /// PodTemplateSpec.
    static let podTemplateSpec = FieldSchema(
        what: "a Kubernetes pod template", modelled: ["metadata", "spec"], explain: "deployment.spec.template")

    /// LabelSelector (a Deployment's `spec.selector`).
    static let labelSelector = FieldSchema(
        what: "a Kubernetes label selector", modelled: ["matchLabels"], ignored: ["matchExpressions"],
        explain: "deployment.spec.selector")
}

extension FieldSchema {
    /// ServiceSpec.
    static let serviceSpec = FieldSchema(
        what: "a Kubernetes ServiceSpec",
        modelled: ["type", "selector", "ports", "clusterIP", "clusterIPs", "externalTrafficPolicy", "internalTrafficPolicy",
                   "sessionAffinity", "sessionAffinityConfig", "externalIPs", "ipFamilies", "ipFamilyPolicy",
                   "loadBalancerSourceRanges", "loadBalancerClass", "allocateLoadBalancerNodePorts", "healthCheckNodePort"],
        ignored: ["publishNotReadyAddresses", "trafficDistribution", "loadBalancerIP", "externalName"],
        explain: "service.spec")

    /// ServicePort.
    static let servicePort = FieldSchema(
        what: "a Kubernetes service port", modelled: ["name", "protocol", "port", "targetPort", "nodePort"],
        ignored: ["appProtocol"], explain: "service.spec.ports")

    /// SessionAffinityConfig.
    static let sessionAffinityConfig = FieldSchema(
        what: "a Kubernetes session affinity config", modelled: ["clientIP"], explain: "service.spec.sessionAffinityConfig")

    /// ClientIPConfig.
    static let clientIPConfig = FieldSchema(
        what: "a Kubernetes ClientIP config", modelled: ["timeoutSeconds"], explain: "service.spec.sessionAffinityConfig.clientIP")
}
