using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Raid5Actors.Tests.Hosting;

/// <summary>
/// The part of a generic host these specs need: a service provider whose hosted services (Akka.Hosting's
/// own) are started in order and stopped in reverse. Akka.Hosting's hosted service asks only for an
/// <c>ILogger</c> and an <see cref="IHostApplicationLifetime"/>, so no Microsoft.Extensions.Hosting
/// package is needed.
/// </summary>
internal sealed class TestHost : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly List<IHostedService> _started = [];
    private bool _stopped;

    private TestHost(ServiceProvider services) => _services = services;

    public IServiceProvider Services => _services;

    /// <summary>Starts every hosted service; when one fails, stops those started and rethrows, as a host would.</summary>
    public static async Task<TestHost> StartAsync(Action<IServiceCollection> configure)
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IHostApplicationLifetime, StubLifetime>();
        configure(services);
        var host = new TestHost(services.BuildServiceProvider());
        try
        {
            foreach (var hosted in host._services.GetServices<IHostedService>())
            {
                await hosted.StartAsync(CancellationToken.None);
                host._started.Add(hosted);
            }
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
        return host;
    }

    public async Task StopAsync()
    {
        if (_stopped)
            return;
        _stopped = true;
        for (var i = _started.Count - 1; i >= 0; i--)
            await _started[i].StopAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _services.DisposeAsync();
    }

    private sealed class StubLifetime : IHostApplicationLifetime
    {
        private readonly CancellationTokenSource _stopping = new();

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => _stopping.Cancel();
    }
}
