// report.html's charts: plots/report.py inlines this file after the CHARTS
// it builds (each {id, kind, spec}); drawers[kind](spec) gives plotly its
// traces and layout. Every number is in the spec, as Python read or derived it
// once; this file only draws. The page counts what it drew into
// <pre id="report-status"> for scripts/check_report.py.
// WebGL for the big ones only: a browser keeps at most 16 WebGL contexts per
// page (Chromium drops the oldest beyond that, and its chart goes blank), and
// SVG draws a few thousand lines as fast.
var GL_FROM = 20000;
function kind(n){return n>=GL_FROM?'scattergl':'scatter';}
// A log axis's ticks, 1-2-5 in every decade its values span: plotly 2.6's
// automatic log ticks leave some spans (0.07 to 9 ms) with none at all.
function logTicks(series){
  var lo=Infinity, hi=-Infinity;
  series.forEach(function(r){r.y.forEach(function(v){if(v>0){lo=Math.min(lo,v);hi=Math.max(hi,v);}});});
  if(!(lo<=hi)) return {};
  var vals=[];
  for(var d=Math.floor(Math.log10(lo));d<=Math.ceil(Math.log10(hi));d++)
    [1,2,5].forEach(function(m){var v=m*Math.pow(10,d);if(v>=lo/2&&v<=hi*2)vals.push(Number(v.toPrecision(1)));});
  return {tickmode:'array',tickvals:vals};
}
var drawers = {
  chronology: function(s){
    var traces=[];
    s.runs.forEach(function(r){
      var ok={x:[],y:[],customdata:[]}, bad={x:[],y:[],customdata:[]};
      for(var i=0;i<r.start.length;i++){
        var t=r.status[i]===200?ok:bad;
        var cd=[r.index[i],r.start[i],r.end[i],r.latency[i],r.conn[i],r.status[i],
                r.delay[i]===null?'-':r.delay[i]];
        var y=r.index[i]+(r.offset||0);  // runs stacked on one chart: each above the last
        t.x.push(r.start[i],r.end[i],null); t.y.push(y,y,null);
        t.customdata.push(cd,cd,null);
      }
      var hover='request %{customdata[0]}<br>start %{customdata[1]:.6f} s<br>end %{customdata[2]:.6f} s'+
                '<br>latency %{customdata[3]} ms<br>connection %{customdata[4]}<br>status %{customdata[5]}'+
                '<br>delay given %{customdata[6]} ms<extra></extra>';
      traces.push({type:kind(r.start.length),mode:'lines',x:ok.x,y:ok.y,customdata:ok.customdata,
                   line:{color:r.colour||s.colour,width:1},hovertemplate:hover,name:r.name||'answered'});
      if(bad.x.length) traces.push({type:kind(r.start.length),mode:'lines',x:bad.x,y:bad.y,customdata:bad.customdata,
                   line:{color:s.failed,width:2},hovertemplate:hover,name:'failed'});
    });
    var shapes=(s.marks||[]).map(function(m){return {type:'line',x0:m.x,x1:m.x,yref:'paper',y0:0,y1:1,
      line:{color:'#000',width:1,dash:m.dash}};});
    return [traces,{title:{text:s.title,font:{size:13},x:0.01,xanchor:'left'},showlegend:false,hovermode:'closest',shapes:shapes,
      xaxis:s.xmax?{title:'time since the first request (s)',range:[0,s.xmax]}:{title:'time since the first request (s)'},
      yaxis:s.ylabels?{title:'request',tickvals:s.ylabels.at,ticktext:s.ylabels.text}:{title:'request'},
      margin:{t:36,r:10,b:40,l:55}}];
  },
  inflight: function(s){
    var traces=s.runs.map(function(r){
      return {type:kind(r.x.length/2),mode:'lines',line:{shape:'hv',color:r.colour,width:1},x:r.x,y:r.y,name:r.name};
    });
    var shapes=s.bound?[{type:'line',y0:s.bound,y1:s.bound,xref:'paper',x0:0,x1:1,line:{color:'#888',dash:'dash'}}]:[];
    return [traces,{title:{text:s.title,font:{size:13},x:0.01,xanchor:'left'},hovermode:'closest',shapes:shapes,
      xaxis:{title:"time since the model's first request (s)"},
      yaxis:{title:'requests in flight',rangemode:'tozero'},margin:{t:36,r:10,b:40,l:55}}];
  },
  spectrum: function(s){
    var traces=s.runs.map(function(r){
      return {type:'scatter',mode:'lines+markers',name:r.name,line:{color:r.colour},x:r.x,y:r.y,
        customdata:r.percent,
        hovertemplate:r.name+': %{customdata} of requests within %{y:.3f} ms of their delay<extra></extra>'};
    });
    return [traces,{xaxis:{type:'log',title:'percentile of requests',tickvals:s.tickvals,ticktext:s.ticktext},
      yaxis:Object.assign({type:'log',title:'overhead (ms)'},logTicks(s.runs)),margin:{t:20,r:10,b:45,l:60}}];
  },
  lines: function(s){
    var traces=s.series.map(function(r){return {type:'scatter',mode:s.markers===false?'lines':'lines+markers',
      name:r.name,x:r.x,y:r.y,line:{color:r.colour,dash:r.dash||'solid'},marker:{size:5}};});
    var shapes=[];
    (s.vline?[s.vline]:[]).concat(s.vlines||[]).forEach(function(x){
      shapes.push({type:'line',x0:x,x1:x,yref:'paper',y0:0,y1:1,line:{color:'#888',dash:'dot'}});});
    if(s.hline) shapes.push({type:'line',y0:s.hline,y1:s.hline,xref:'paper',x0:0,x1:1,line:{color:'#888',dash:'dash'}});
    // Not log: plotly's own choice ('-'), linear for numbers, category for names (policies).
    var layout={shapes:shapes,hovermode:'closest',xaxis:{title:s.xtitle,type:s.xlog?'log':'-'},
      yaxis:Object.assign({title:s.ytitle,type:s.ylog?'log':'-'},s.ylog?logTicks(s.series):{}),
      margin:{t:20,r:10,b:45,l:60},legend:{font:{size:10}}};
    if(s.title){layout.title={text:s.title,font:{size:13},x:0.01,xanchor:'left'};layout.margin.t=36;}
    return [traces,layout];
  },
  // Resource strips: panels stacked on one time axis (the chronology's above
  // them), each with the client's series (in the model's colour) and the
  // server's (grey).
  strips: function(s){
    var n=s.panels.length, gap=0.05, h=(1-gap*(n-1))/n, traces=[], layout={
      showlegend:false,hovermode:'x unified',margin:{t:10,r:10,b:40,l:55},
      xaxis:{title:"time since the model's first request (s)",range:[0,s.xmax],anchor:'y'+n}};
    if(s.title){layout.title={text:s.title,font:{size:13},x:0.01,xanchor:'left'};layout.margin.t=36;}
    s.panels.forEach(function(p,k){
      var ax=k===0?'y':'y'+(k+1), key=k===0?'yaxis':'yaxis'+(k+1);
      layout[key]={title:{text:p.title,font:{size:10}},domain:[1-(k+1)*h-k*gap,1-k*gap-k*h],rangemode:'tozero'};
      p.series.forEach(function(r){
        traces.push({type:'scatter',mode:'lines',x:r.x,y:r.y,xaxis:'x',yaxis:ax,name:r.name+' '+p.title,
                     line:{shape:'hv',width:1,color:r.colour||s.colour}});
      });
    });
    return [traces,layout];
  },
  primes: function(s){
    var sx=[],sy=[],cd=[];
    for(var i=0;i<s.save_start.length;i++){sx.push(s.save_start[i],s.save_end[i],null);sy.push(i,i,null);
      var d=[s.save_value[i],s.save_ms[i]];cd.push(d,d,null);}
    var cx=[],cy=[];
    for(var k=0;k<s.compute_start.length;k++){cx.push(s.compute_start[k],s.compute_end[k],null);cy.push(-5,-5,null);}
    return [[{type:kind(s.save_start.length),mode:'lines',x:sx,y:sy,customdata:cd,line:{color:s.save_colour,width:1},name:'save',
              hovertemplate:'prime %{customdata[0]}: saved in %{customdata[1]} ms<extra></extra>'},
             {type:kind(s.compute_start.length),mode:'lines',x:cx,y:cy,line:{color:s.compute_colour,width:6},name:'computing'}],
            {title:{text:s.title,font:{size:13},x:0.01,xanchor:'left'},hovermode:'closest',xaxis:{title:'time since the search started (s)'},
             yaxis:{title:'save number'},margin:{t:36,r:10,b:40,l:55}}];
  }
};
var reportStatus={charts:CHARTS.length,with_data:0,errors:window.__reportErrors};
function finish(){
  // A chart counts as drawn when it has data, its axes have tick labels
  // (plotly draws them last, after the traces),
  // and something of a trace is on screen: an SVG line or point, or a WebGL
  // trace (drawn on a canvas, which the page cannot read back).
  var drawn=function(gd){
    var shown=Array.prototype.some.call(gd.querySelectorAll('.scatterlayer path'),function(p){
      var d=p.getAttribute('d');return d&&d.length>1&&d!=='M0,0Z';})||
      gd.data.some(function(t){return t.type==='scattergl';});
    return gd.data&&gd.data.length>0&&gd.data.some(function(t){return t.x&&t.x.length>0;})&&
           gd.querySelectorAll('.xtick text').length>0&&gd.querySelectorAll('.ytick text').length>0&&shown;
  };
  var plots=Array.prototype.slice.call(document.querySelectorAll('.js-plotly-plot'));
  reportStatus.with_data=plots.filter(drawn).length;
  // Which were not, by id and kind, for whoever reads the verdict.
  reportStatus.not_drawn=CHARTS.filter(function(c){var gd=document.getElementById(c.id);
    return !(gd&&gd.classList.contains('js-plotly-plot')&&drawn(gd));}).map(function(c){return c.id+' ('+c.kind+')';});
  reportStatus.webgl=!!document.createElement('canvas').getContext('webgl');
  reportStatus.webgl_charts=Array.prototype.filter.call(document.querySelectorAll('.js-plotly-plot'),function(gd){
    return gd.data&&gd.data.some(function(t){return t.type==='scattergl';});
  }).length;
  document.getElementById('report-status').textContent=JSON.stringify(reportStatus);
}
Promise.all(CHARTS.map(function(c){
  try{var fl=drawers[c.kind](c.spec);
      return Plotly.newPlot(c.id,fl[0],fl[1],{responsive:true,displaylogo:false});}
  catch(e){window.__reportErrors.push(c.id+': '+e);return null;}
})).then(finish,function(e){window.__reportErrors.push(String(e));finish();});
