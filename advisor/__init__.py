"""The planning advisor: pools, fallback ladder and checkpoint interval for a training job.

Entry point: ``spotplan.advisor.api.recommend(RecommendRequest(...)) -> Recommendation``. Modules by concept:
``sizing`` (memory, checkpoint bytes, throughput), ``savecost`` (save/restore times, notice feasibility),
``candidates`` (spot pools per AZ, on-demand per region), ``nodes`` (node counts searched, pools at a count),
``scan`` (the node-count decision), ``frontier`` (cost/time across counts), ``ladder`` (closed-form ranking,
ladder order),
``scoring`` (candidate -> Scenario -> SimPy Monte Carlo), ``baselines``, ``optimize`` (the search),
``plan`` (Plan assembly, inputs hash), ``narrative``/``render`` (reasons, rich summary), ``emit`` (SkyPilot
task, torchrun line). Times are seconds unless a name says hours; costs USD. Never imports torch or streamlit;
nothing heavy is imported here so ``import advisor`` stays cheap.
"""
