"""hyperopt's MongoDB trials on the maintained pymongo 4 driver, with race-free job reservation.

hyperopt 0.3.0's ``hyperopt.mongoexp`` still calls pymongo-3 APIs that pymongo 4 removed
(``Cursor.count``, ``Collection.insert/update/remove/find_and_modify``, ``Database.authenticate``;
hyperopt#932, closed unfixed). :func:`apply` replaces exactly those calls in ``MongoJobs``,
``MongoTrials`` and the module's connection helpers with their pymongo 4 equivalents; every other
line of hyperopt (TPE, the trial documents, attachments in GridFS, ``MongoWorker``) is untouched.

Reservation is the one change of behaviour. hyperopt reserves a job with ``findAndModify``; the
embedded jongodb server does not run it atomically (two workers got the same job 21 times in 400),
so :func:`reserve` claims a job with one conditional ``update_one`` on ``{_id, owner: None,
state: NEW}`` and accepts it only when ``modified_count == 1``: race-free on jongodb and on a real
MongoDB. Trial ids are allocated the same way (compare-and-set on the counter document).

As a pytest plugin (``pytest -p glasskit.ml.search.mongoexp4``) it applies itself before collection, which
is how the test suite runs hyperopt's own ``tests/integration/test_mongoexp.py`` against jongodb.
"""
from __future__ import annotations

import copy
import time

import bson
import pymongo
from bson.son import SON
from hyperopt import mongoexp as mx
from hyperopt.base import JOB_STATE_NEW, JOB_STATE_RUNNING, JOB_STATES

CANDIDATES = 16  # jobs looked at per reservation round; a lost race moves on to the next one


def _client(host, port, user=None, pw=None, auth_dbname=None, **kwargs) -> pymongo.MongoClient:
    auth = {}
    if user:
        auth = {"username": user, "password": pw if pw else mx.read_pw(),
                "authSource": auth_dbname or ("admin" if user == "hyperopt" else None)}
        auth = {k: v for k, v in auth.items() if v is not None}
    return pymongo.MongoClient(host, port, document_class=SON, w=1, **auth, **kwargs)


def connection_with_tunnel(dbname, host="localhost", auth_dbname=None, port=27017, ssh=False,
                           user="hyperopt", pw=None):
    """hyperopt's helper with pymongo 4's client (credentials in the constructor)."""
    if ssh:
        import subprocess
        import numpy
        local_port = int(numpy.random.randint(low=27500, high=28000))
        tunnel = subprocess.Popen(["ssh", "-NTf", "-L", f"{local_port}:127.0.0.1:{port}", host])
        time.sleep(0.5)
        return _client("127.0.0.1", local_port), tunnel
    return _client(host, port, user, pw, auth_dbname), None


def _check_keys(doc, where="job") -> None:
    """pymongo 3's ``check_keys=True``: no key may start with '$' or contain '.'."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(k, str) and (k.startswith("$") or "." in k):
                raise bson.errors.InvalidDocument(f"key {k!r} in {where} must not start with '$' or contain '.'")
            _check_keys(v, where)
    elif isinstance(doc, (list, tuple)):
        for v in doc:
            _check_keys(v, where)


def jobs_len(self) -> int:
    try:
        return self.jobs.count_documents({})
    except pymongo.errors.PyMongoError:
        return 0


def insert(self, job):
    """Insert a copy of ``job``; returns it with its ``_id``."""
    try:
        cpy = copy.deepcopy(job)
        _check_keys(cpy)
        cpy["_id"] = self.jobs.insert_one(cpy).inserted_id
        return cpy
    except pymongo.errors.OperationFailure as e:
        raise mx.OperationFailure(e)


def delete(self, job):
    try:
        self.jobs.delete_many(job)
    except pymongo.errors.OperationFailure as e:
        raise mx.OperationFailure(e)


def delete_all(self, cond=None):
    """Delete the jobs matching ``cond`` and their GridFS attachments."""
    try:
        for d in list(self.jobs.find(filter=cond or {}, projection=["_id", "_attachments"])):
            for name, file_id in d.get("_attachments", []):
                try:
                    self.gfs.delete(file_id)
                except mx.gridfs.errors.NoFile:
                    mx.logger.error(f"failed to remove attachment {name}:{file_id}")
            self.jobs.delete_one({"_id": d["_id"]})
    except pymongo.errors.OperationFailure as e:
        raise mx.OperationFailure(e)


def reserve(self, host_id, cond=None, exp_key=None):
    """Claim one new job for ``host_id``: a conditional single-document update per candidate,
    accepted only when it modified the document. Returns the job as updated, or None."""
    cond = copy.copy(cond) if cond else {}
    if exp_key is not None:
        cond["exp_key"] = exp_key
    if cond.get("owner") is not None:
        raise ValueError("refusing to reserve owned job")
    cond["owner"], cond["state"] = None, JOB_STATE_NEW
    try:
        for cand in list(self.jobs.find(cond, projection=["_id"]).limit(CANDIDATES)):
            now = mx.coarse_utcnow()
            claim = {"$set": {"owner": host_id, "book_time": now, "state": JOB_STATE_RUNNING,
                              "refresh_time": now}}
            if self.jobs.update_one({**cond, "_id": cand["_id"]}, claim).modified_count == 1:
                return self.jobs.find_one({"_id": cand["_id"]})
    except pymongo.errors.OperationFailure as e:
        mx.logger.error("Error during reserve_job: %s" % str(e))
    return None


def update(self, doc, dct, collection=None, do_sanity_checks=True):
    """hyperopt's versioned update (``{_id, version}`` matches at most one document)."""
    collection = self.collection if collection is None else collection
    dct = copy.deepcopy(dct)
    if "_id" not in doc:
        raise ValueError('doc must have an "_id" key to be updated')
    if "_id" in dct:
        if dct["_id"] != doc["_id"]:
            raise ValueError("cannot update the _id field")
        del dct["_id"]
    if "version" in doc:
        query = {"_id": doc["_id"], "version": doc["version"]}
        dct["version"] = doc["version"] + 1
    else:
        query = {"_id": doc["_id"]}
        dct["version"] = 1
    try:
        collection.update_one(query, {"$set": dct}, upsert=False)
    except pymongo.errors.OperationFailure as e:
        raise mx.OperationFailure(e)
    doc.update(dct)
    if do_sanity_checks and collection.find_one({"_id": doc["_id"], "version": doc["version"]}) is None:
        raise mx.OperationFailure("updated doc not found : %s" % str(doc))
    return doc


def insert_trial_docs(self, docs):
    return [self.handle.jobs.insert_one(doc).inserted_id for doc in docs]


def count_by_state_unsynced(self, arg):
    if isinstance(arg, int):
        if arg not in JOB_STATES:
            raise ValueError("invalid state", arg)
        query = {"state": arg}
    else:
        states = list(arg)
        assert all(x in JOB_STATES for x in states)
        query = {"state": {"$in": states}}
    if self._exp_key is not None:
        query["exp_key"] = self._exp_key
    return self.handle.jobs.count_documents(query)


def new_trial_ids(self, n):
    """``n`` trial ids unique in the database: compare-and-set on the counter document."""
    ids = self.handle.db.job_ids
    query = {"a": 0}
    while True:
        doc = ids.find_one(query)
        if doc is None:
            ids.update_one(query, {"$setOnInsert": {"last_id": 0}}, upsert=True)
            continue
        last = doc.get("last_id", 0)
        if ids.update_one({"_id": doc["_id"], "last_id": last},
                          {"$set": {"last_id": last + n}}).modified_count == 1:
            return list(range(last, last + n))


def number_of_jobs_in_db(options):
    mj = mx.MongoJobs.new_from_connection_str(mx.as_mongo_str(options.mongo) + "/jobs")
    return mj.jobs.count_documents({})


def apply() -> None:
    """Patch ``hyperopt.mongoexp`` for pymongo 4 (idempotent)."""
    if getattr(mx, "_glasskit_pymongo4", False):
        return
    mx.connection_with_tunnel = connection_with_tunnel
    mx.number_of_jobs_in_db = number_of_jobs_in_db
    for name, fn in (("__len__", jobs_len), ("insert", insert), ("delete", delete),
                     ("delete_all", delete_all), ("reserve", reserve), ("update", update)):
        setattr(mx.MongoJobs, name, fn)
    for name, fn in (("_insert_trial_docs", insert_trial_docs), ("new_trial_ids", new_trial_ids),
                     ("count_by_state_unsynced", count_by_state_unsynced)):
        setattr(mx.MongoTrials, name, fn)
    mx._glasskit_pymongo4 = True


def pytest_configure(config) -> None:  # pragma: no cover - the pytest plugin hook
    apply()
