using BenchmarkDotNet.Running;

namespace Raid5Actors.Benchmarks;

public static class Program
{
    // The switcher finds every benchmark class in this assembly, so new ones need no registration here.
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
