// Command kubecheck builds a Kustomize directory the way `kubectl apply -k` does and decodes
// every resource strictly into its Kubernetes (or KEDA) API type: an unknown field, a wrong
// type or an unknown kind fails. It validates deploy/kubernetes where no cluster runs. On
// success it prints the resources as JSON, for tests to check what they say.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func typed(apiVersion, kind string) (any, bool) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, true
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "keda.sh/v1alpha1/ScaledObject":
		return &kedav1alpha1.ScaledObject{}, true
	}
	return nil, false
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kubecheck <kustomization directory>")
		os.Exit(2)
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid: kustomize:", err)
		os.Exit(1)
	}
	var out []any
	for _, r := range resources.Resources() {
		raw, err := r.MarshalJSON()
		if err != nil {
			fmt.Fprintln(os.Stderr, "invalid:", r.CurId(), err)
			os.Exit(1)
		}
		object, known := typed(r.GetApiVersion(), r.GetKind())
		if !known {
			fmt.Fprintf(os.Stderr, "invalid: %s: no API type known for %s %s\n", r.GetName(), r.GetApiVersion(), r.GetKind())
			os.Exit(1)
		}
		decoder := json.NewDecoder(bytes.NewReader(raw))
		decoder.DisallowUnknownFields()
		if err := decoder.Decode(object); err != nil {
			fmt.Fprintf(os.Stderr, "invalid: %s %s: %v\n", r.GetKind(), r.GetName(), err)
			os.Exit(1)
		}
		out = append(out, object)
	}
	encoded, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid:", err)
		os.Exit(1)
	}
	fmt.Println(string(encoded))
}
