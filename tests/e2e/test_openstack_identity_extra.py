"""The unmodified `openstack` CLI against `pocketstack serve`: a role granted to a group
(`role add --group`) reaches its member's login and `role assignment list --effective`; a role
on a domain; `application credential create/list/delete`, the credential logging in with
`--os-auth-type v3applicationcredential` until it is deleted."""
from __future__ import annotations

import json
import subprocess

from e2ehelp import BIN


def osc(server, *argv, check=True):
    return server.run("openstack", *argv, check=check)


def osc_json(server, *argv):
    return json.loads(osc(server, *argv, "-f", "json").stdout)


def osc_as(server, env: dict, *argv, check=True):
    """openstack with other credentials than the admin's."""
    base = {k: v for k, v in server.env.items()
            if not k.startswith("OS_") or k in ("OS_AUTH_URL", "OS_IDENTITY_API_VERSION", "OS_INTERFACE",
                                                "OS_REGION_NAME")}
    p = subprocess.run([str(BIN / "openstack"), *argv], env={**base, **env}, capture_output=True, text=True,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def test_group_roles_and_application_credentials(server):
    osc(server, "project", "create", "idx-proj")
    osc(server, "user", "create", "--password", "idx-pw-1", "idx-user")
    osc(server, "group", "create", "idx-grp")
    osc(server, "group", "add", "user", "idx-grp", "idx-user")
    user_env = {"OS_USERNAME": "idx-user", "OS_PASSWORD": "idx-pw-1", "OS_PROJECT_NAME": "idx-proj",
                "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"}
    # no role yet: the user cannot log in to the project
    assert osc_as(server, user_env, "token", "issue", check=False).returncode != 0
    osc(server, "role", "add", "--project", "idx-proj", "--group", "idx-grp", "member")
    ra = osc_json(server, "role", "assignment", "list", "--group", "idx-grp", "--names")
    assert [(a["Role"], a["Group"], a["Project"]) for a in ra] == [("member", "idx-grp@Default", "idx-proj@Default")]
    eff = osc_json(server, "role", "assignment", "list", "--user", "idx-user", "--effective", "--names")
    assert {(a["Role"], a["Project"]) for a in eff} == {("member", "idx-proj@Default"), ("reader", "idx-proj@Default")}
    tok = json.loads(osc_as(server, user_env, "token", "issue", "-f", "json").stdout)
    project_id = tok["project_id"]

    osc(server, "role", "add", "--domain", "default", "--user", "idx-user", "reader")
    dom = osc_json(server, "role", "assignment", "list", "--domain", "default", "--user", "idx-user", "--names")
    assert [(a["Role"], a["Domain"]) for a in dom] == [("reader", "Default")]

    ac = json.loads(osc_as(server, user_env, "application", "credential", "create", "--role", "member",
                           "idx-app", "-f", "json").stdout)
    assert ac["Secret"] and ac["Project ID"] == project_id and [r["name"] for r in ac["Roles"]] == ["member"]
    listed = json.loads(osc_as(server, user_env, "application", "credential", "list", "-f", "json").stdout)
    assert [x["Name"] for x in listed] == ["idx-app"]
    app_env = {"OS_AUTH_TYPE": "v3applicationcredential", "OS_APPLICATION_CREDENTIAL_ID": ac["ID"],
               "OS_APPLICATION_CREDENTIAL_SECRET": ac["Secret"]}
    tok = json.loads(osc_as(server, app_env, "token", "issue", "-f", "json").stdout)
    assert tok["project_id"] == project_id
    assert json.loads(osc_as(server, app_env, "server", "list", "-f", "json").stdout) == []
    osc_as(server, user_env, "application", "credential", "delete", "idx-app")
    p = osc_as(server, app_env, "token", "issue", check=False)
    assert p.returncode != 0 and ac["Secret"] not in p.stderr

    # the group's role goes with it
    osc(server, "role", "remove", "--project", "idx-proj", "--group", "idx-grp", "member")
    assert osc_as(server, user_env, "token", "issue", check=False).returncode != 0
