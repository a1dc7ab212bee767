/** The image builder API (see build-image.ts for the recipe's steps). */
export { buildImage, builderHash, imageHash, imagePaths, readManifest, NPM_VERSION, WORKLOAD_USER, type ImageBuildResult } from './build-image.ts';
export { BASE_DEBS, DEFAULT_SUITE, checkRecipe, recipeDebs, recipeHash, recipeSuite, type ImageRecipe, type RecipeFile, type HashInputs } from './recipe.ts';
export { buildRuntime, nodeTarball, HELLO_SERVER, NODE_VERSION, RUNTIME_PREFIX, type Runtime } from './runtime.ts';
export { debootstrapTarball, DEBIAN_MIRROR } from './debootstrap.ts';
export { ChrootSession, assertNothingMounted, cleanStaleWorkDirs } from './chroot.ts';
export { canonicalJson, hashFile, hashParts } from './hash.ts';
export { Progress, stage, elapsed } from './progress.ts';
export { run } from './run.ts';
export { withLock } from './lock.ts';
