#!/usr/bin/env python3
"""Generates a large, valid panka stack for benchmarks.

usage: gen-stack.py COMPONENTS OUT_DIR [--only-sqs]

Components are spread over services of 10 (4 MicroServices, 3 SQS, 2 RDS, 1 Redis);
each MicroService reads outputs of components of its own service and of the previous
service, so the graph has cross-service edges and several waves. With --only-sqs every
component is an independent SQS queue (the 100-queue benchmark against moto).
"""
import os
import shutil
import sys

KINDS = ["sqs", "sqs", "sqs", "rds", "rds", "redis", "ms", "ms", "ms", "ms"]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    total, out = int(sys.argv[1]), sys.argv[2]
    kinds = ["sqs"] * len(KINDS) if "--only-sqs" in sys.argv[3:] else KINDS
    name = os.path.basename(os.path.normpath(out))
    shutil.rmtree(out, ignore_errors=True)
    write(f"{out}/stack.yaml", f"""apiVersion: core.panka.io/v1
kind: Stack
metadata:
  name: {name}
spec:
  provider:
    name: aws
    region: us-east-1
""")
    write(f"{out}/infra/defaults.yaml", """apiVersion: infra.panka.io/v1
kind: InfraDefaults
metadata:
  name: defaults
spec:
  resources: {cpu: 512, memory: 1024}
  scaling: {replicas: 2}
""")
    services = (total + len(kinds) - 1) // len(kinds)
    made = 0
    for s in range(services):
        svc = f"svc{s:04d}"
        write(f"{out}/services/{svc}/service.yaml", f"""apiVersion: core.panka.io/v1
kind: Service
metadata:
  name: {svc}
  stack: {name}
spec:
  infrastructure:
    defaults: ./infra/defaults.yaml
""")
        for i, kind in enumerate(kinds):
            if made == total:
                break
            made += 1
            comp = f"{kind}{i}"
            base = f"{out}/services/{svc}/components/{comp}"
            meta = f"metadata:\n  name: {comp}\n  service: {svc}\n  stack: {name}\n"
            if kind == "sqs":
                # The 100-queue benchmark compares with one plain queue per resource.
                dlq = "" if kinds is not KINDS else "  deadLetterQueue:\n    enabled: true\n    maxReceiveCount: 5\n"
                write(f"{base}/sqs.yaml", f"apiVersion: components.panka.io/v1\nkind: SQS\n{meta}spec:\n  type: standard\n  visibilityTimeout: 60\n{dlq}")
            elif kind == "rds":
                write(f"{base}/rds.yaml", f"""apiVersion: components.panka.io/v1
kind: RDS
{meta}spec:
  engine:
    type: postgres
    version: "15.4"
  instance:
    class: db.t3.small
    storage:
      type: gp3
      allocatedGB: 20
  database:
    name: db{i}
    username: admin{i}
    passwordSecret:
      ref: /stacks/{name}/{svc}/{comp}
""")
            elif kind == "redis":
                write(f"{base}/elasticache.yaml", f"apiVersion: components.panka.io/v1\nkind: ElastiCacheRedis\n{meta}spec:\n  engine:\n    version: \"7.0\"\n  cluster:\n    mode: replication-group\n    nodeType: cache.t3.micro\n    numNodes: 2\n")
            else:
                prev = f"svc{s - 1:04d}" if s > 0 else svc
                env = [
                    f"    - name: QUEUE_URL\n      valueFrom:\n        component: {svc}/sqs0\n        output: url\n",
                    f"    - name: DB_HOST\n      valueFrom:\n        component: {svc}/rds3\n        output: endpoint\n",
                    f"    - name: CACHE_HOST\n      valueFrom:\n        component: {svc}/redis5\n        output: endpoint\n",
                    f"    - name: UPSTREAM_QUEUE\n      valueFrom:\n        component: {prev}/sqs1\n        output: arn\n",
                ]
                depends = f"  dependsOn:\n    - {svc}/ms{i - 1}\n" if i > 6 else ""
                write(f"{base}/microservice.yaml", f"""apiVersion: components.panka.io/v1
kind: MicroService
{meta}spec:
  image:
    repository: 123456789012.dkr.ecr.us-east-1.amazonaws.com/{svc}-{comp}
    tag: "${{VERSION}}"
  ports:
    - name: http
      port: 8080
  environment:
{''.join(env)}    - name: LOG_LEVEL
      value: info
  secrets:
    - name: API_TOKEN
      secretRef: /stacks/{name}/{svc}/token
  healthCheck:
    readiness:
      http:
        path: /health
        port: 8080
{depends}""")
    print(f"{out}: {made} components in {services} services")


if __name__ == "__main__":
    main()
