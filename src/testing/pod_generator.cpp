#include "testing/pod_generator.hpp"

#include <cstdio>

namespace kcoro::testing {

uint64_t PodGenerator::next() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 2685821657736338717ULL;
}

std::string PodGenerator::uid() {
  char buf[40];
  const uint64_t a = next(), b = next();
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>(a >> 16) & 0xffff, static_cast<unsigned>(a) & 0xfff,
                (static_cast<unsigned>(b >> 48) & 0x3fff) | 0x8000,
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

namespace {
const char* const kImages[] = {"nginx:1.25", "registry.k8s.io/pause:3.9",
                               "ghcr.io/example/api-server:v2.14.3", "redis:7.2-alpine",
                               "quay.io/prometheus/node-exporter:v1.7.0"};
const char* const kApps[] = {"web", "api", "cache", "worker", "metrics", "frontend", "billing"};
}  // namespace

std::string PodGenerator::pod(std::string_view ns, std::string_view name, uint64_t resource_version,
                              bool list_item) {
  const std::string app = kApps[below(std::size(kApps))];
  const std::string rs_hash = std::to_string(5000000000ULL + below(4000000000ULL));
  const int containers = 1 + static_cast<int>(below(3));
  const int envs = 2 + static_cast<int>(below(10));
  const std::string node = "node-" + std::to_string(below(500));
  const std::string ip = "10.244." + std::to_string(below(250)) + "." + std::to_string(below(250));

  std::string s;
  s.reserve(8192);
  s += '{';
  if (!list_item) s += R"("kind":"Pod","apiVersion":"v1",)";
  s += R"("metadata":{"name":")";
  s.append(name);
  s += R"(","generateName":")" + app + "-" + rs_hash + R"(-","namespace":")";
  s.append(ns);
  s += R"(","uid":")" + uid() + R"(","resourceVersion":")" + std::to_string(resource_version);
  s +=
      R"(","creationTimestamp":"2026-11-22T10:31:15Z","labels":{"app":")" + app +
      R"(","pod-template-hash":")" + rs_hash + R"(","tier":"backend","version":"v)" +
      std::to_string(below(9)) +
      R"("},"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-20T08:00:00Z","prometheus.io/scrape":"true","prometheus.io/port":"9090"},)";
  s += R"("ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":")" + app + "-" +
       rs_hash + R"(","uid":")" + uid() + R"(","controller":true,"blockOwnerDeletion":true}],)";
  // managedFields: kube-controller-manager's create and the kubelet's status update.
  s +=
      R"("managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":"2026-11-22T10:31:15Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/restartedAt":{},"f:prometheus.io/port":{},"f:prometheus.io/scrape":{}},"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{},"f:tier":{},"f:version":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"0\"}":{}}},"f:spec":{"f:containers":{)";
  for (int c = 0; c < containers; ++c) {
    if (c) s += ',';
    s +=
        R"("k:{\"name\":\"c)" + std::to_string(c) +
        R"(\"}":{".":{},"f:env":{".":{},"k:{\"name\":\"MODE\"}":{".":{},"f:name":{},"f:value":{}}},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:name":{},"f:protocol":{}}},"f:resources":{".":{},"f:limits":{".":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{},"f:volumeMounts":{".":{},"k:{\"mountPath\":\"/etc/config\"}":{".":{},"f:mountPath":{},"f:name":{}}}})";
  }
  s +=
      R"(},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{},"f:volumes":{".":{},"k:{\"name\":\"config\"}":{".":{},"f:configMap":{".":{},"f:defaultMode":{},"f:name":{}},"f:name":{}}}}}},)";
  s +=
      R"({"manager":"kubelet","operation":"Update","apiVersion":"v1","time":"2026-11-22T10:31:20Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Initialized\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:hostIPs":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\")" +
      ip + R"(\"}":{".":{},"f:ip":{}}},"f:startTime":{}}},"subresource":"status"}]},)";
  // spec
  s +=
      R"("spec":{"volumes":[{"name":"config","configMap":{"name":")" + app +
      R"(-config","defaultMode":420}},{"name":"kube-api-access-)" + std::to_string(below(99999)) +
      R"(","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],"containers":[)";
  for (int c = 0; c < containers; ++c) {
    if (c) s += ',';
    s += R"({"name":"c)" + std::to_string(c) + R"(","image":")" +
         kImages[below(std::size(kImages))] +
         R"(","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],"env":[)";
    for (int e = 0; e < envs; ++e) {
      if (e) s += ',';
      s += R"({"name":"SETTING_)" + std::to_string(e) + R"(","value":"value-)" +
           std::to_string(next() % 1000000) + R"("})";
    }
    s +=
        R"(],"resources":{"limits":{"memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},"volumeMounts":[{"name":"config","mountPath":"/etc/config"},{"name":"kube-api-access","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"})";
  }
  s +=
      R"(],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default","nodeName":")" +
      node +
      R"(","securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},)";
  // status
  s +=
      R"("status":{"phase":"Running","conditions":[{"type":"Initialized","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-22T10:31:15Z"},{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-22T10:31:20Z"},{"type":"ContainersReady","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-22T10:31:20Z"},{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-22T10:31:15Z"}],"hostIP":"172.18.0.)" +
      std::to_string(2 + below(200)) + R"(","podIP":")" + ip + R"(","podIPs":[{"ip":")" + ip +
      R"("}],"startTime":"2026-11-22T10:31:15Z","containerStatuses":[)";
  for (int c = 0; c < containers; ++c) {
    if (c) s += ',';
    s +=
        R"({"name":"c)" + std::to_string(c) +
        R"(","state":{"running":{"startedAt":"2026-11-22T10:31:19Z"}},"lastState":{},"ready":true,"restartCount":0,"image":"docker.io/library/nginx:1.25","imageID":"docker.io/library/nginx@sha256:)" +
        uid() + uid().substr(0, 28) + R"(","containerID":"containerd://)" + uid() + uid() +
        R"(","started":true})";
  }
  s += R"(],"qosClass":"Burstable"}})";
  return s;
}

std::string PodGenerator::watch_line(std::string_view type, std::string_view object_json) {
  std::string s;
  s.reserve(object_json.size() + 32);
  s += R"({"type":")";
  s.append(type);
  s += R"(","object":)";
  s.append(object_json);
  s += "}\n";
  return s;
}

std::string PodGenerator::list(const std::vector<std::string>& items,
                               std::string_view resource_version, std::string_view continue_token) {
  std::size_t total = 128;
  for (const auto& i : items)
    total += i.size() + 1;
  std::string s;
  s.reserve(total);
  s += R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":")";
  s.append(resource_version);
  s += '"';
  if (!continue_token.empty()) {
    s += R"(,"continue":")";
    s.append(continue_token);
    s += '"';
  }
  s += R"(},"items":[)";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) s += ',';
    s += items[i];
  }
  s += "]}\n";
  return s;
}

}  // namespace kcoro::testing
