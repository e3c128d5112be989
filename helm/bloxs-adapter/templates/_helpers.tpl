{{- define "bloxs-adapter.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bloxs-adapter.labels" -}}
app.kubernetes.io/name: bloxs-adapter
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "bloxs-adapter.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "bloxs-adapter.pod" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  seccompProfile: {type: RuntimeDefault}
containers:
  - name: {{ .component }}
    image: {{ include "bloxs-adapter.image" .root }}
    imagePullPolicy: {{ .root.Values.image.pullPolicy }}
    args: {{ toJson .args }}
    envFrom:
      - secretRef:
          name: {{ .root.Values.envFromSecret }}
    env:
      - name: BLOXS_ADAPTER_CONFIG
        value: /etc/bloxs-adapter/adapter.yaml
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    resources: {{ toJson .root.Values.resources }}
    volumeMounts:
      - {name: config, mountPath: /etc/bloxs-adapter, readOnly: true}
      - {name: lookups, mountPath: /etc/bloxs-adapter/lookups, readOnly: true}
      - {name: tmp, mountPath: /tmp}
    {{- if eq .component "serve" }}
    ports:
      - {name: http, containerPort: 8080}
    livenessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 10
    readinessProbe:
      httpGet: {path: /readyz, port: http}
      periodSeconds: 5
    {{- end }}
volumes:
  - name: config
    configMap: {name: {{ include "bloxs-adapter.fullname" .root }}-config}
  - name: lookups
    configMap: {name: {{ include "bloxs-adapter.fullname" .root }}-lookups}
  - name: tmp
    emptyDir: {}
nodeSelector: {{ toJson .root.Values.nodeSelector }}
tolerations: {{ toJson .root.Values.tolerations }}
affinity: {{ toJson .root.Values.affinity }}
{{- end -}}
