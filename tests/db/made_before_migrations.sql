-- A state database made by pocketstack before schema migrations (no alembic_version): `pocketstack init`,
-- an image, a server ACTIVE on a fake host, a volume (trace rows left out). sqlite3's .dump.
BEGIN TRANSACTION;
CREATE TABLE assignments (user_id TEXT NOT NULL REFERENCES users(id),
  project_id TEXT NOT NULL REFERENCES projects(id), role_id TEXT NOT NULL REFERENCES roles(id),
  PRIMARY KEY (user_id, project_id, role_id));
INSERT INTO "assignments" VALUES('f5b5e63292f94d3e8ab38018ec188b82','713988024b6749d8bc521063ed50579f','ca42fd70f6944278959bfd5e1a313037');
CREATE TABLE claims (instance_uuid TEXT PRIMARY KEY, host TEXT NOT NULL,
  vcpus INTEGER NOT NULL, memory_mb INTEGER NOT NULL, disk_gb INTEGER NOT NULL);
INSERT INTO "claims" VALUES('3c0a120b-aadb-4db8-8728-83d79ddd0ab9','fake-1',1,128,1);
CREATE TABLE compute_nodes (host TEXT PRIMARY KEY, address TEXT, driver TEXT NOT NULL,
  availability_zone TEXT NOT NULL, vcpus INTEGER NOT NULL DEFAULT 0, memory_mb INTEGER NOT NULL DEFAULT 0,
  disk_gb INTEGER NOT NULL DEFAULT 0, hypervisor_type TEXT, hypervisor_version TEXT,
  cpu_arch TEXT, accelerator TEXT, disabled INTEGER NOT NULL DEFAULT 0, disabled_reason TEXT,
  last_heartbeat REAL, down_reason TEXT, failed_builds INTEGER NOT NULL DEFAULT 0,
  configured INTEGER NOT NULL DEFAULT 1, vcpus_used INTEGER NOT NULL DEFAULT 0,
  memory_mb_used INTEGER NOT NULL DEFAULT 0, disk_gb_used INTEGER NOT NULL DEFAULT 0,
  running_vms INTEGER NOT NULL DEFAULT 0);
INSERT INTO "compute_nodes" VALUES('fake-1','127.0.0.1','fake','nova',4,4096,40,'fake','1.0','x86_64','none',0,NULL,1.79606201270656847955e+09,NULL,0,1,1,128,1,1);
INSERT INTO "compute_nodes" VALUES('fake-2','127.0.0.1','fake','nova',4,4096,40,'fake','1.0','x86_64','none',0,NULL,1.79606201270678210264e+09,NULL,0,1,0,0,0,0);
INSERT INTO "compute_nodes" VALUES('fake-3','127.0.0.1','fake','nova',4,4096,40,'fake','1.0','x86_64','none',0,NULL,1.79606201270685982701e+09,NULL,0,1,0,0,0,0);
CREATE TABLE domains (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL);
INSERT INTO "domains" VALUES('default','Default','The default domain',1,'');
CREATE TABLE flavors (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, vcpus INTEGER NOT NULL,
  ram INTEGER NOT NULL, disk INTEGER NOT NULL, is_public INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL, swap INTEGER NOT NULL DEFAULT 0, ephemeral_gb INTEGER NOT NULL DEFAULT 0,
  rxtx_factor REAL NOT NULL DEFAULT 1.0);
INSERT INTO "flavors" VALUES('1','m1.nano',1,128,1,1,'2026-11-30T18:06:52.079715Z',0,0,1.0);
INSERT INTO "flavors" VALUES('2','m1.micro',1,192,1,1,'2026-11-30T18:06:52.079793Z',0,0,1.0);
INSERT INTO "flavors" VALUES('3','m1.tiny',1,512,1,1,'2026-11-30T18:06:52.079848Z',0,0,1.0);
INSERT INTO "flavors" VALUES('4','m1.small',1,2048,20,1,'2026-11-30T18:06:52.079900Z',0,0,1.0);
CREATE TABLE floatingips (id TEXT PRIMARY KEY, project_id TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', floating_network_id TEXT NOT NULL REFERENCES networks(id),
  floating_port_id TEXT NOT NULL, floating_ip_address TEXT NOT NULL, port_id TEXT, fixed_ip_address TEXT,
  router_id TEXT, status TEXT NOT NULL DEFAULT 'DOWN', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  UNIQUE(port_id, fixed_ip_address));
CREATE TABLE group_members (group_id TEXT NOT NULL REFERENCES groups(id),
  user_id TEXT NOT NULL REFERENCES users(id), PRIMARY KEY (group_id, user_id));
CREATE TABLE groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, UNIQUE(domain_id, name));
CREATE TABLE image_members (image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  member_id TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, PRIMARY KEY (image_id, member_id));
CREATE TABLE images (id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL,
  status TEXT NOT NULL, disk_format TEXT, container_format TEXT, size INTEGER, checksum TEXT,
  sha256 TEXT, visibility TEXT NOT NULL, min_ram INTEGER NOT NULL DEFAULT 0,
  min_disk INTEGER NOT NULL DEFAULT 0, properties TEXT NOT NULL DEFAULT '{}', path TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]');
INSERT INTO "images" VALUES('972ee8aa-e41a-4a5c-878a-8cde9349f151','cirros','713988024b6749d8bc521063ed50579f','active','raw','bare',512,'bf619eac0cdf3f68d496ea9344137e8b','076a27c79e5ace2a3d47f9dd2e83e4ff6ea8872b3c2218f66c92b89b55f36560','public',0,0,'{}','/tmp/p8old/home/images/972ee8aa-e41a-4a5c-878a-8cde9349f151','2026-11-30T18:06:52.714857Z','2026-11-30T18:06:52.746622Z','[]');
CREATE TABLE instance_action_events (id INTEGER PRIMARY KEY, action_id INTEGER NOT NULL,
  event TEXT NOT NULL, start_time TEXT NOT NULL, finish_time TEXT, result TEXT, host TEXT, details TEXT);
INSERT INTO "instance_action_events" VALUES(1,1,'conductor_schedule_and_build_instances','2026-11-30T18:06:52.747833Z','2026-11-30T18:06:52.748216Z','Success',NULL,NULL);
INSERT INTO "instance_action_events" VALUES(2,1,'compute__do_build_and_run_instance','2026-11-30T18:06:52.748305Z','2026-11-30T18:06:52.749551Z','Success','fake-1',NULL);
INSERT INTO "instance_action_events" VALUES(3,1,'compute_claim_resources','2026-11-30T18:06:52.748327Z','2026-11-30T18:06:52.748520Z','Success','fake-1',NULL);
INSERT INTO "instance_action_events" VALUES(4,1,'compute_allocate_network','2026-11-30T18:06:52.748688Z','2026-11-30T18:06:52.749112Z','Success','fake-1',NULL);
INSERT INTO "instance_action_events" VALUES(5,1,'compute_fetch_image','2026-11-30T18:06:52.749207Z','2026-11-30T18:06:52.749258Z','Success','fake-1',NULL);
INSERT INTO "instance_action_events" VALUES(6,1,'compute_block_device_mapping','2026-11-30T18:06:52.749281Z','2026-11-30T18:06:52.749315Z','Success','fake-1',NULL);
INSERT INTO "instance_action_events" VALUES(7,1,'compute_spawn','2026-11-30T18:06:52.749386Z','2026-11-30T18:06:52.749439Z','Success','fake-1',NULL);
CREATE TABLE instance_actions (id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL,
  action TEXT NOT NULL, request_id TEXT NOT NULL, user_id TEXT, project_id TEXT, start_time TEXT NOT NULL,
  finish_time TEXT, message TEXT);
INSERT INTO "instance_actions" VALUES(1,'3c0a120b-aadb-4db8-8728-83d79ddd0ab9','create','req-8fa7f1aa-5263-4803-806c-ba50197e652d','f5b5e63292f94d3e8ab38018ec188b82','713988024b6749d8bc521063ed50579f','2026-11-30T18:06:52.747344Z','2026-11-30T18:06:52.749551Z',NULL);
CREATE TABLE instance_faults (id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL,
  code INTEGER NOT NULL, message TEXT NOT NULL, details TEXT, host TEXT, created_at TEXT NOT NULL);
CREATE TABLE instances (uuid TEXT PRIMARY KEY, name TEXT NOT NULL, hostname TEXT NOT NULL,
  project_id TEXT NOT NULL, user_id TEXT NOT NULL, image_id TEXT, flavor_id TEXT NOT NULL,
  vcpus INTEGER NOT NULL, memory_mb INTEGER NOT NULL, root_gb INTEGER NOT NULL, flavor_name TEXT NOT NULL,
  vm_state TEXT NOT NULL, task_state TEXT, power_state INTEGER NOT NULL DEFAULT 0, host TEXT,
  availability_zone TEXT, requested_az TEXT, requested_networks TEXT NOT NULL DEFAULT '"auto"',
  boot_volume_size INTEGER, boot_volume_id TEXT, server_group_id TEXT, reservation_id TEXT,
  metadata TEXT NOT NULL DEFAULT '{}', attempts TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, launched_at TEXT, terminated_at TEXT,
  deleted INTEGER NOT NULL DEFAULT 0, build_started REAL, key_name TEXT, key_data TEXT,
  access_ip_v4 TEXT, access_ip_v6 TEXT, user_data TEXT, description TEXT,
  launch_index INTEGER NOT NULL DEFAULT 0);
INSERT INTO "instances" VALUES('3c0a120b-aadb-4db8-8728-83d79ddd0ab9','vm1','vm1','713988024b6749d8bc521063ed50579f','f5b5e63292f94d3e8ab38018ec188b82','972ee8aa-e41a-4a5c-878a-8cde9349f151','1',1,128,1,'m1.nano','active',NULL,1,'fake-1','nova',NULL,'"auto"',NULL,NULL,NULL,'r-45b261eb','{}','[]','2026-11-30T18:06:52.746959Z','2026-11-30T18:06:52.749499Z','2026-11-30T18:06:52.749477Z',NULL,0,1.79606201274719381325e+09,NULL,NULL,NULL,NULL,NULL,NULL,0);
CREATE TABLE key_pairs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, user_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL, public_key TEXT NOT NULL, type TEXT NOT NULL DEFAULT 'ssh',
  created_at TEXT NOT NULL, UNIQUE(user_id, name));
CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT NOT NULL, project_id TEXT NOT NULL,
  shared INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'ACTIVE', created_at TEXT NOT NULL,
  external INTEGER NOT NULL DEFAULT 0);
INSERT INTO "networks" VALUES('7f08fc62-fff3-4842-aafc-5f72f821d44b','private','713988024b6749d8bc521063ed50579f',1,'ACTIVE','2026-11-30T18:06:52.079968Z',0);
CREATE TABLE ports (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
  network_id TEXT NOT NULL REFERENCES networks(id), subnet_id TEXT REFERENCES subnets(id),
  project_id TEXT NOT NULL, mac_address TEXT NOT NULL UNIQUE, ip_address TEXT,
  device_id TEXT NOT NULL DEFAULT '', device_owner TEXT NOT NULL DEFAULT '', binding_host TEXT,
  created_for TEXT, status TEXT NOT NULL DEFAULT 'DOWN', created_at TEXT NOT NULL, UNIQUE(subnet_id, ip_address));
INSERT INTO "ports" VALUES('5db4a9f6-87c0-4b7d-9f10-d88dfd6dbff0','','7f08fc62-fff3-4842-aafc-5f72f821d44b','9ffa6e48-3b4b-4be8-9238-af5ac19140ad','713988024b6749d8bc521063ed50579f','fa:16:3e:09:8e:32','10.0.0.2','3c0a120b-aadb-4db8-8728-83d79ddd0ab9','compute:nova','fake-1','3c0a120b-aadb-4db8-8728-83d79ddd0ab9','ACTIVE','2026-11-30T18:06:52.748907Z');
CREATE TABLE projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '[]', UNIQUE(domain_id, name));
INSERT INTO "projects" VALUES('713988024b6749d8bc521063ed50579f','admin','default','Bootstrap project',1,'2026-11-30T18:06:52.074482Z','[]');
CREATE TABLE quotas (project_id TEXT NOT NULL, resource TEXT NOT NULL,
  hard_limit INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (project_id, resource));
CREATE TABLE roles (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT);
INSERT INTO "roles" VALUES('ca42fd70f6944278959bfd5e1a313037','admin',NULL);
INSERT INTO "roles" VALUES('5d15de146b8543e1b5b31e7dc71567ed','member',NULL);
INSERT INTO "roles" VALUES('5ae35c67c0f548beb0aed811a424984c','reader',NULL);
CREATE TABLE routers (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
  project_id TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'ACTIVE',
  gw_port_id TEXT, enable_snat INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE scheduler_decisions (id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL,
  attempt INTEGER NOT NULL, data TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT INTO "scheduler_decisions" VALUES(1,'3c0a120b-aadb-4db8-8728-83d79ddd0ab9',1,'{"alternates": ["fake-2", "fake-3"], "attempt": 1, "created": "2026-11-30T18:06:52.748152Z", "filters": [{"name": "IgnoreHosts", "remaining": 3, "removed": []}, {"name": "ComputeFilter", "remaining": 3, "removed": []}, {"name": "AvailabilityZoneFilter", "remaining": 3, "removed": []}, {"name": "RamFilter", "remaining": 3, "removed": []}, {"name": "CoreFilter", "remaining": 3, "removed": []}, {"name": "DiskFilter", "remaining": 3, "removed": []}, {"name": "ImagePropertiesFilter", "remaining": 3, "removed": []}, {"name": "ServerGroupAntiAffinityFilter", "remaining": 3, "removed": []}, {"name": "ServerGroupAffinityFilter", "remaining": 3, "removed": []}], "hosts_considered": 3, "instance_uuid": "3c0a120b-aadb-4db8-8728-83d79ddd0ab9", "message": null, "requested": {"availability_zone": null, "disk_gb": 1, "memory_mb": 128, "vcpus": 1}, "selected": "fake-1", "weights": [{"by_weigher": {"BuildFailureWeigher": 0.0, "CPUWeigher": 1.0, "DiskWeigher": 1.0, "NumInstancesWeigher": 0.0, "RAMWeigher": 1.0}, "host": "fake-1", "total": 3.0}, {"by_weigher": {"BuildFailureWeigher": 0.0, "CPUWeigher": 1.0, "DiskWeigher": 1.0, "NumInstancesWeigher": 0.0, "RAMWeigher": 1.0}, "host": "fake-2", "total": 3.0}, {"by_weigher": {"BuildFailureWeigher": 0.0, "CPUWeigher": 1.0, "DiskWeigher": 1.0, "NumInstancesWeigher": 0.0, "RAMWeigher": 1.0}, "host": "fake-3", "total": 3.0}]}','2026-11-30T18:06:52.748152Z');
CREATE TABLE server_groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, project_id TEXT NOT NULL,
  user_id TEXT NOT NULL, policy TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE server_tags (instance_uuid TEXT NOT NULL, tag TEXT NOT NULL,
  PRIMARY KEY (instance_uuid, tag));
CREATE TABLE subnets (id TEXT PRIMARY KEY, network_id TEXT NOT NULL REFERENCES networks(id),
  name TEXT NOT NULL, project_id TEXT NOT NULL, cidr TEXT NOT NULL, gateway_ip TEXT, ip_version INTEGER NOT NULL,
  pool_start TEXT NOT NULL, pool_end TEXT NOT NULL, created_at TEXT NOT NULL,
  dns_nameservers TEXT NOT NULL DEFAULT '[]', host_routes TEXT NOT NULL DEFAULT '[]');
INSERT INTO "subnets" VALUES('9ffa6e48-3b4b-4be8-9238-af5ac19140ad','7f08fc62-fff3-4842-aafc-5f72f821d44b','private-subnet','713988024b6749d8bc521063ed50579f','10.0.0.0/24','10.0.0.1',4,'10.0.0.2','10.0.0.254','2026-11-30T18:06:52.080069Z','[]','[]');
CREATE TABLE system_assignments (user_id TEXT NOT NULL REFERENCES users(id),
  role_id TEXT NOT NULL REFERENCES roles(id), PRIMARY KEY (user_id, role_id));
CREATE TABLE tokens (id_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, project_id TEXT,
  methods TEXT NOT NULL, issued_at REAL NOT NULL, expires_at REAL NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0, system INTEGER NOT NULL DEFAULT 0);
INSERT INTO "tokens" VALUES('82c82183e8b48464c11f49a245354c19cdbe08b7865030f631951fbc0e5474a8','f5b5e63292f94d3e8ab38018ec188b82','713988024b6749d8bc521063ed50579f','["password"]',1.79606201271454167371e+09,1.79606561271454167371e+09,0,0);
CREATE TABLE trace (id INTEGER PRIMARY KEY, ts REAL NOT NULL, request_id TEXT,
  instance_uuid TEXT, service TEXT NOT NULL, kind TEXT NOT NULL, topic TEXT, method TEXT, step TEXT,
  phase TEXT, duration_ms REAL, detail TEXT);
CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL,
  password_hash TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, default_project_id TEXT,
  created_at TEXT NOT NULL, extra TEXT NOT NULL DEFAULT '{}', UNIQUE(domain_id, name));
INSERT INTO "users" VALUES('f5b5e63292f94d3e8ab38018ec188b82','admin','default','$2b$04$t1kpf3hCaWlmKXMoi9hEbOOFRzKb7NBrLf.oFSU5GBtUGuNaNlwTa',1,'713988024b6749d8bc521063ed50579f','2026-11-30T18:06:52.079506Z','{}');
CREATE TABLE volume_types (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  description TEXT, is_public INTEGER NOT NULL DEFAULT 1, extra_specs TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL);
CREATE TABLE volumes (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '', project_id TEXT NOT NULL, size INTEGER NOT NULL,
  status TEXT NOT NULL, host TEXT, bootable INTEGER NOT NULL DEFAULT 0, image_id TEXT,
  attached_to TEXT, device TEXT, delete_on_termination INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, user_id TEXT,
  metadata TEXT NOT NULL DEFAULT '{}', volume_type_id TEXT);
INSERT INTO "volumes" VALUES('beca3ab9-16d8-443b-8c7c-c260a0268e3b','','','713988024b6749d8bc521063ed50579f',1,'available',NULL,0,NULL,NULL,NULL,0,'2026-11-30T18:06:52.763710Z','2026-11-30T18:06:52.763710Z','f5b5e63292f94d3e8ab38018ec188b82','{}',NULL);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE INDEX ports_device ON ports(device_id);
CREATE INDEX volumes_attached ON volumes(attached_to);
CREATE INDEX instances_project ON instances(project_id, deleted);
CREATE INDEX instances_listing ON instances(deleted, created_at, uuid);
CREATE INDEX instances_host ON instances(host, deleted);
CREATE INDEX server_tags_tag ON server_tags(tag);
CREATE INDEX claims_host ON claims(host);
CREATE INDEX actions_instance ON instance_actions(instance_uuid);
CREATE INDEX events_action ON instance_action_events(action_id);
CREATE INDEX faults_instance ON instance_faults(instance_uuid);
CREATE INDEX decisions_instance ON scheduler_decisions(instance_uuid);
CREATE TRIGGER claims_add AFTER INSERT ON claims BEGIN
  UPDATE compute_nodes SET vcpus_used=vcpus_used+NEW.vcpus, memory_mb_used=memory_mb_used+NEW.memory_mb,
    disk_gb_used=disk_gb_used+NEW.disk_gb, running_vms=running_vms+1 WHERE host=NEW.host; END;
CREATE TRIGGER claims_drop AFTER DELETE ON claims BEGIN
  UPDATE compute_nodes SET vcpus_used=vcpus_used-OLD.vcpus, memory_mb_used=memory_mb_used-OLD.memory_mb,
    disk_gb_used=disk_gb_used-OLD.disk_gb, running_vms=running_vms-1 WHERE host=OLD.host; END;
CREATE INDEX trace_instance ON trace(instance_uuid);
COMMIT;
