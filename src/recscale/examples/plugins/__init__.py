"""Example user architectures written as recscale plugins (:mod:`recscale.model.plugin`).

Each is one short module with its paper's equations in the docstring; ``plugins.toml`` beside this
package compares them with the built-ins. Copy one to start your own.
"""
